// Loads pages in headless Chromium at phone and desktop widths. For each page and width
// it saves a full-page screenshot, measures sideways scroll, checks that every scale's end
// labels sit at its first and last answer, and runs axe-core. Prints the results as JSON.
//   node phones.js NODE_MODULES SCREENSHOT_DIR PROFILE_DIR TARGETS.json
// TARGETS.json: [{"name": "...", "url": "http://… or file://…"}]
const fs = require("fs");
const path = require("path");

const [modules, shots, profile, targetsFile] = process.argv.slice(2);
const { launch, violations } = require("./chromium.cjs");
const axeSource = fs.readFileSync(path.join(modules, "axe-core", "axe.min.js"), "utf8");
const targets = JSON.parse(fs.readFileSync(targetsFile, "utf8"));
const WIDTHS = [320, 390, 1280];

// Runs in the page: where each scale's end labels are against its answers.
function measureScales() {
  const box = (el) => {
    const range = document.createRange();
    range.selectNodeContents(el);
    return range.getBoundingClientRect();
  };
  const problems = [];
  let scales = 0;
  for (const low of document.querySelectorAll(".cv-low")) {
    const scope = low.closest("fieldset") || document;
    const high = scope.querySelector(".cv-high");
    const answers = [...scope.querySelectorAll(".cv-option, .cv-btn")].map((a) => a.getBoundingClientRect());
    if (!high || answers.length < 2 || !low.textContent.trim() || !high.textContent.trim()) continue;
    scales += 1;
    const left = Math.min(...answers.map((r) => r.left));
    const right = Math.max(...answers.map((r) => r.right));
    const first = answers[0];
    const last = answers[answers.length - 1];
    const lowBox = box(low);
    const highBox = box(high);
    const near = (a, b) => Math.abs(a - b) <= 4;
    if (!near(first.left, left)) problems.push(`the first answer is not at the left (${first.left} vs ${left})`);
    if (!near(last.right, right)) problems.push(`the last answer is not at the right (${last.right} vs ${right})`);
    if (!near(lowBox.left, left)) problems.push(`"${low.textContent}" starts at ${lowBox.left}, the scale at ${left}`);
    if (!near(highBox.right, right)) problems.push(`"${high.textContent}" ends at ${highBox.right}, the scale at ${right}`);
    if (lowBox.top < first.bottom - 1) problems.push(`"${low.textContent}" is not under the answers`);
  }
  return { scales, problems };
}

(async () => {
  const browser = await launch(modules, profile);
  const results = [];
  try {
    for (const target of targets) {
      for (const width of WIDTHS) {
        const page = await browser.newPage();
        await page.setBypassCSP(true); // the collector admits only its own scripts; axe-core is the test's
        await page.setViewport({ width, height: 800 });
        await page.goto(target.url, { waitUntil: "load" });
        const size = await page.evaluate(() => ({
          scrollWidth: document.documentElement.scrollWidth,
          innerWidth: window.innerWidth,
        }));
        const scales = await page.evaluate(measureScales);
        const shot = path.join(shots, `${target.name}-${width}.png`);
        await page.screenshot({ path: shot, fullPage: true });
        await page.addScriptTag({ content: axeSource });
        const report = await page.evaluate(() => axe.run(document, { resultTypes: ["violations"] }));
        results.push({
          name: target.name,
          width,
          shot,
          ...size,
          ...scales,
          violations: violations(report),
        });
        await page.close();
      }
    }
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(results));
})().catch((e) => {
  console.error(e);
  process.exit(2);
});
