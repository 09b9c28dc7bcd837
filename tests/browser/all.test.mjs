// Node 20's `--test DIR` only picks up *.test.{js,mjs,cjs}; this lets
// `node --import tsx --test tests/browser/` run the TypeScript browser tests.
await import("./dashboard.test.ts");
