// What the page has besides its own script: uPlot, loaded before it as a global (vendor/uplot/uPlot.iife.min.js).
declare const uPlot: typeof import("uplot").default;
