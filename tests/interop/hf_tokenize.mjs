// Tokenizes texts with a Hugging Face tokenizer.json + tokenizer_config.json through
// tokenizers.js (@huggingface/tokenizers), a reader ferry did not write.
// usage: node hf_tokenize.mjs DIR < {"texts": [...], "special": bool}
// prints {"ids": [[...], ...], "decoded": ["...", ...]}
import { readFileSync } from "node:fs";
import { Tokenizer } from "@huggingface/tokenizers";

const dir = process.argv[2];
const load = (name) => JSON.parse(readFileSync(`${dir}/${name}`, "utf8"));
const tok = new Tokenizer(load("tokenizer.json"), load("tokenizer_config.json"));
const req = JSON.parse(readFileSync(0, "utf8"));
const ids = req.texts.map((t) => tok.encode(t, { add_special_tokens: !!req.special }).ids);
const decoded = ids.map((i) => (i.length ? tok.decode(i, { skip_special_tokens: true }) : ""));
process.stdout.write(JSON.stringify({ ids, decoded }) + "\n");
