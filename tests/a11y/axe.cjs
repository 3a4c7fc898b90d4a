// Loads HTML files in headless Chromium, saves a full-page screenshot of each, runs
// axe-core in the page and prints the violations as JSON.
// Usage: node axe.cjs NODE_MODULES SCREENSHOT_DIR PROFILE_DIR FILE.html...
const fs = require("fs");
const path = require("path");

const [modules, shots, profile, ...files] = process.argv.slice(2);
const { launch, violations } = require("../browser/chromium.cjs");
const axeSource = fs.readFileSync(path.join(modules, "axe-core", "axe.min.js"), "utf8");

(async () => {
  const browser = await launch(modules, profile);
  const results = [];
  for (const file of files) {
    const page = await browser.newPage();
    await page.setViewport({ width: 390, height: 844 });
    await page.goto("file://" + path.resolve(file), { waitUntil: "load" });
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => document.activeElement && document.activeElement.tagName);
    await page.screenshot({ path: path.join(shots, path.basename(file) + ".png"), fullPage: true });
    await page.addScriptTag({ content: axeSource });
    const report = await page.evaluate(() => axe.run(document, { resultTypes: ["violations"] }));
    results.push({
      file: path.basename(file),
      focused,
      violations: violations(report),
    });
    await page.close();
  }
  await browser.close();
  console.log(JSON.stringify(results));
})().catch((e) => {
  console.error(e);
  process.exit(2);
});
