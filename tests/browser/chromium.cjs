// What the page tests share: Debian's Chromium started headless as this machine allows it,
// and axe-core's violations in the short form the Rust tests read.
const path = require("path");

// Starts Chromium with an empty profile, without background traffic.
function launch(modules, profile) {
  const puppeteer = require(path.join(modules, "puppeteer-core"));
  return puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    userDataDir: profile,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
      "--no-first-run", "--disable-component-update", "--disable-sync",
    ],
  });
}

// axe-core's violations: rule, impact, help and the first few elements.
function violations(report) {
  return report.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
  }));
}

module.exports = { launch, violations };
