// Opens a one-click link in headless Chromium as a person would: the landing page confirms
// the answer, the person completes the form and submits it. Prints the final page's text.
//   node one_click.js URL QUESTION=VALUE...      (puppeteer-core on NODE_PATH)
const puppeteer = require("puppeteer-core");

async function main() {
  const [url, ...answers] = process.argv.slice(2);
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--no-first-run", "--disable-component-update", "--disable-sync",
    ],
  });
  try {
    const page = await browser.newPage();
    await page.goto(url, { waitUntil: "load" });
    await page.waitForFunction(() => document.documentElement.dataset.confirmed === "yes", {
      timeout: 10000,
    });
    for (const pair of answers) {
      const [name, value] = pair.split("=");
      const choice = await page.$(`input[name="${name}"][value="${value}"]`);
      if (choice) {
        await choice.click();
      } else {
        await page.type(`[name="${name}"]`, value);
      }
    }
    await Promise.all([
      page.waitForNavigation({ waitUntil: "load" }),
      page.click('form [type="submit"]'),
    ]);
    console.log(await page.evaluate(() => document.body.innerText));
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
