// Writes the JSON Schemas generated from the zod schemas into schema/.
// `npm run gen:schemas` after changing a schema; a test fails while they drift.
import { writeFileSync } from "node:fs";
import { generatedSchemas } from "../src/spec/generated.ts";

for (const [file, text] of Object.entries(generatedSchemas())) {
  writeFileSync(new URL(`../schema/${file}`, import.meta.url), text);
  console.log(`wrote schema/${file}`);
}
