// Prints what the npm package @huggingface/gguf (an independent GGUF reader) sees in a file:
// typed metadata and tensor infos, as JSON with 64-bit integers as decimal strings.
import { gguf } from "@huggingface/gguf";

const path = process.argv[2];
const out = await gguf(path, { allowLocalFile: true, typedMetadata: true });
const big = (_k, v) => (typeof v === "bigint" ? v.toString() : v);
const meta = {};
for (const [k, v] of Object.entries(out.typedMetadata)) {
  if (k === "version" || k === "tensor_count" || k === "kv_count") continue;
  meta[k] = v;
}
process.stdout.write(
  JSON.stringify(
    {
      version: out.typedMetadata.version.value,
      tensorDataOffset: out.tensorDataOffset,
      metadata: meta,
      tensors: out.tensorInfos,
    },
    big,
  ),
);
