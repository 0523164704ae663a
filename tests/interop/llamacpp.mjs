// llama.cpp itself (its prebuilt CPU libraries, loaded through node-llama-cpp) as an independent
// reader and runner of the GGUF files ferry writes. One JSON line on stdout.
//   node llamacpp.mjs greedy MODEL IDS N        -> {"tokens": [...]}  (no BOS added)
//   node llamacpp.mjs tokenize MODEL TEXT       -> {"tokens": [...]}  (no BOS, no special parsing)
//   node llamacpp.mjs speed MODEL PROMPT GEN T  -> {"prompt_tok_s": x, "gen_tok_s": y}
//   node llamacpp.mjs ppl MODEL CTX CHUNKS T    -> {"tok_s": x}: llama-perplexity's work, chunks
//       of CTX tokens from position 0, the logits of each chunk's second half taken out
//   node llamacpp.mjs scores MODEL CTX IDS VOCAB -> {"logits": [[...], ...]}: the VOCAB logits of
//       llama-perplexity's scored positions over the token ids IDS (chunks of CTX tokens, the
//       first of each replaced by IDS[0], BOS; positions CTX/2 .. CTX-2)
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const [cmd, modelPath, a, b, c] = process.argv.slice(2);
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
const model = await llama.loadModel({modelPath, gpuLayers: 0});

async function run(ids, n, threads) {
    const ctx = await model.createContext({contextSize: Math.max(256, ids.length + n + 8), threads,
                                           batchSize: Math.max(ids.length, 1)});
    const seq = ctx.getSequence();
    const out = [];
    const t0 = performance.now();
    let t1 = 0;
    for await (const t of seq.evaluate(ids, {temperature: 0})) {
        if (out.length === 0) t1 = performance.now();
        out.push(t);
        if (out.length >= n) break;
    }
    const t2 = performance.now();
    await ctx.dispose();
    return {tokens: out, prompt_s: (t1 - t0) / 1000, gen_s: (t2 - t1) / 1000};
}

if (cmd === "greedy") {
    const r = await run(a.split(",").map(Number), Number(b), 2);
    console.log(JSON.stringify({tokens: r.tokens}));
} else if (cmd === "tokenize") {
    console.log(JSON.stringify({tokens: Array.from(model.tokenize(a, false))}));
} else if (cmd === "speed") {
    const prompt = Array.from({length: Number(a)}, (_, i) => i + 1);
    const r = await run(prompt, Number(b) + 1, Number(c));
    // the first token comes with the prompt; the others are generation
    console.log(JSON.stringify({prompt_tok_s: prompt.length / r.prompt_s, gen_tok_s: Number(b) / r.gen_s}));
} else if (cmd === "ppl") {
    const n = Number(a), chunks = Number(b);
    const ctx = await model.createContext({contextSize: n, threads: Number(c), batchSize: n});
    const seq = ctx.getSequence();
    const t0 = performance.now();
    for (let k = 0; k < chunks; k++) {
        await seq.clearHistory();
        const items = Array.from({length: n}, (_, i) => {
            const tok = i === 0 ? 1 : 1 + ((k * n + i) % 1000);
            const next = 1 + ((k * n + i + 1) % 1000);
            // logits of each scored position taken out in llama.cpp's own code: the next token's
            // and the largest, and a sum of exp(logit - largest) (over the sampler's candidates,
            // not the whole vocabulary: this mode measures speed; `scores` gives every logit)
            return i >= n / 2 ? [tok, {generateNext: {logits: {filter: {tokens: [next], includeMax: true}},
                                                      totalLogitWeight: true}}] : tok;
        });
        await seq.controlledEvaluate(items);
    }
    const t1 = performance.now();
    await ctx.dispose();
    console.log(JSON.stringify({tok_s: n * chunks / ((t1 - t0) / 1000)}));
} else if (cmd === "scores") {
    const n = Number(a), ids = b.split(",").map(Number), vocab = Number(c);
    // an F32 key/value cache as ferry keeps (llama.cpp's default F16 cache moves a perplexity
    // by about 2e-4 of itself)
    const ctx = await model.createContext({contextSize: n, threads: 2, batchSize: n, flashAttention: false,
                                           experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32"});
    const seq = ctx.getSequence();
    const logits = [];
    for (let k = 0; (k + 1) * n <= ids.length; k++) {
        await seq.clearHistory();
        const chunk = ids.slice(k * n, (k + 1) * n);
        chunk[0] = ids[0];
        const items = chunk.map((tok, i) => i < n / 2 || i >= n - 1 ? tok : [tok, {generateNext: {logits: true}}]);
        const res = await seq.controlledEvaluate(items);
        for (let i = Math.floor(n / 2); i < n - 1; i++) {
            const row = new Array(vocab).fill(null);
            for (const [t, v] of res[i].next.logits) row[t] = v;
            logits.push(row);
        }
    }
    await ctx.dispose();
    console.log(JSON.stringify({logits}));
} else {
    console.error("usage: llamacpp.mjs greedy|tokenize|speed|ppl|scores MODEL ...");
    process.exit(64);
}
await model.dispose();
await llama.dispose();
