#!/usr/bin/env bash
# Rebuilds the SentencePiece test models of this folder with the original C++ trainer
# (Debian's `sentencepiece` package, spm_train 0.1.97: `apt-get install sentencepiece`).
# Usage: make-models.sh [path/to/tinyshakespeare.txt]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
corpus=$(realpath "${1:-$here/../../../../../shared/data/tinyshakespeare.txt}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Trained inside $tmp with relative names: the models record their input paths.
cd "$tmp"
cp "$here/lowercase.tsv" .

# Two disjoint 200 kB slices of the corpus, standing in for the two languages.
head -c 200000 "$corpus" >source.txt
head -c 800000 "$corpus" | tail -c 200000 >target.txt
common=(--num_threads=1 --random_seed=1 --minloglevel=1)

# Like a Marian source.spm: unigram with the built-in nmt_nfkc rules (the bulk of the file is
# their precompiled table), plus a few letters the corpus lacks so that they are pieces.
spm_train "${common[@]}" --input=source.txt --model_prefix=source \
  --model_type=unigram --vocab_size=1000 --required_chars='éèàçñüößæ中文日本語'

# Unigram without normalisation rules, with user-defined symbols.
spm_train "${common[@]}" --input=target.txt --model_prefix=target \
  --model_type=unigram --vocab_size=800 --normalization_rule_name=identity \
  --user_defined_symbols='[NAME],<sep>'

# BPE with byte fallback, whitespace kept as it is, and our own small rules (lowercase.tsv).
spm_train "${common[@]}" --input=target.txt --model_prefix=bpe \
  --model_type=bpe --vocab_size=600 --byte_fallback=true --remove_extra_whitespaces=false \
  --normalization_rule_tsv=lowercase.tsv

cp source.model "$here/source.spm"
cp target.model "$here/target.spm"
cp bpe.model "$here/bpe.spm"

# A Marian-style vocab.json shared by source.spm and target.spm: </s> = 0, <unk> = 1, two
# language codes, every piece of either model (SentencePiece's own <unk>, <s>, </s> left out),
# <pad> last.
node -e '
const { readFileSync } = require("node:fs");
const vocab = { "</s>": 0, "<unk>": 1, ">>fra<<": 2, ">>deu<<": 3 };
for (const file of process.argv.slice(1)) {
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const piece = line.split("\t")[0];
    if (piece && !["<unk>", "<s>", "</s>"].includes(piece) && !(piece in vocab)) {
      vocab[piece] = Object.keys(vocab).length;
    }
  }
}
vocab["<pad>"] = Object.keys(vocab).length;
console.log(JSON.stringify(vocab, null, 2));
' source.vocab target.vocab >"$here/vocab.json"
cd "$here"
ls -l source.spm target.spm bpe.spm vocab.json
