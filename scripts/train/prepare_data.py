#!/usr/bin/env python3
"""Builds the training corpus, the tokenizer and the token files for the bundled trained model.

    python3 scripts/train/prepare_data.py            # writes .train-data/ and the tokenizer files into fixtures/trained/

Corpus (no download; both Debian packages of bookworm, named in .train-data/meta.json with every file's size):
  - English prose: the reStructuredText sources of the Python 3.11 documentation,
    /usr/share/doc/python3.11/html/_sources/**/*.rst.txt  (package python3.11-doc, 3.11.2-6+deb12u9)
  - code: the Python 3.11 standard library, /usr/lib/python3.11/**/*.py without site-packages and dist-packages
    (packages libpython3.11-minimal and libpython3.11-stdlib, 3.11.2-6+deb12u6)
Files are sorted by path; every 50th (2 %) is held out for evaluation.

Tokenizer: SentencePiece BPE, 8 000 pieces, in the LLaMA / MiniCPM options (byte fallback, split digits,
whitespace-only pieces allowed, identity normalisation, dummy prefix, <unk>=0 <s>=1 </s>=2), trained on the
training files; needs `pip install sentencepiece==0.1.97` (the version of Debian's libsentencepiece, which bffn
links). Written as tokenizer.model, plus tokenizer.json converted as transformers' LLaMA converter does, and the
config files.

Token files: every document (file) is <s> + its ids; concatenated as little-endian uint16 into
.train-data/train.bin and .train-data/heldout.bin. fixtures/trained/heldout.txt gets the first held-out files'
text (about 48 KB) for `bffn verify --text` and the quick start.
"""
import glob
import hashlib
import json
import os
import sys

import numpy as np
import sentencepiece as spm

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures", "scripts"))
from llama_converter import llama_tokenizer  # noqa: E402  (the converter the tokenizer fixtures use)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, ".train-data")
OUT = os.path.join(ROOT, "fixtures", "trained")
VOCAB = 8000

if spm.__version__ != "0.1.97":
    sys.exit(f"sentencepiece {spm.__version__}: needs 0.1.97, the version of the C++ library bffn links")

prose = sorted(glob.glob("/usr/share/doc/python3.11/html/_sources/**/*.rst.txt", recursive=True))
code = sorted(p for p in glob.glob("/usr/lib/python3.11/**/*.py", recursive=True)
              if "/site-packages/" not in p and "/dist-packages/" not in p)
if len(prose) < 400 or len(code) < 600:
    sys.exit("install python3.11-doc and python3.11 (Debian) first: apt-get install python3.11-doc")
files = sorted(prose + code)
heldout = set(files[49::50])
os.makedirs(DATA, exist_ok=True)
os.makedirs(OUT, exist_ok=True)


def read(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8", errors="replace")


texts = {p: read(p) for p in files}
train_txt = os.path.join(DATA, "tokenizer-train.txt")
with open(train_txt, "w", encoding="utf-8") as f:
    for p in files:
        if p not in heldout:
            f.write(texts[p])
            f.write("\n")
spm.SentencePieceTrainer.train(
    input=train_txt, model_prefix=os.path.join(OUT, "tokenizer"), model_type="bpe", vocab_size=VOCAB,
    byte_fallback=True, character_coverage=0.9999, split_digits=True, allow_whitespace_only_pieces=True,
    remove_extra_whitespaces=False, normalization_rule_name="identity", add_dummy_prefix=True,
    unk_id=0, bos_id=1, eos_id=2, pad_id=-1, num_threads=2, input_sentence_size=2_000_000,
    shuffle_input_sentence=True, max_sentence_length=1 << 16, minloglevel=2)
os.remove(os.path.join(OUT, "tokenizer.vocab"))
os.remove(train_txt)
sp = spm.SentencePieceProcessor(model_file=os.path.join(OUT, "tokenizer.model"))

# tokenizer.json, as transformers' LlamaConverter writes it from tokenizer.model.
hf, _ = llama_tokenizer(sp)
hf.save(os.path.join(OUT, "tokenizer.json"))
for name, obj in [
    ("tokenizer_config.json", {"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
                               "unk_token": "<unk>", "pad_token": None, "model_max_length": 512, "tokenizer_class": "LlamaTokenizer"}),
    ("special_tokens_map.json", {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}),
    ("generation_config.json", {"bos_token_id": 1, "eos_token_id": [2], "do_sample": False}),
]:
    with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=2)
        f.write("\n")

# Token files.
meta = {"vocab_size": sp.get_piece_size(), "files": [], "train_tokens": 0, "heldout_tokens": 0, "train_bytes": 0, "heldout_bytes": 0}
streams = {"train": [], "heldout": []}
for p in files:
    split = "heldout" if p in heldout else "train"
    ids = [1] + sp.encode(texts[p])
    streams[split].append(np.asarray(ids, dtype=np.uint16))
    n = len(texts[p].encode("utf-8"))
    meta[f"{split}_tokens"] += len(ids)
    meta[f"{split}_bytes"] += n
    meta["files"].append({"path": p, "split": split, "bytes": n, "tokens": len(ids),
                          "sha256": hashlib.sha256(texts[p].encode("utf-8")).hexdigest()[:16]})
for split, parts in streams.items():
    np.concatenate(parts).astype("<u2").tofile(os.path.join(DATA, f"{split}.bin"))
with open(os.path.join(DATA, "meta.json"), "w") as f:
    json.dump(meta, f, indent=1)

# A held-out text sample for `bffn verify --text` (whole held-out files, about 48 KB).
sample, size = [], 0
for p in files:
    if p in heldout and size < 48_000:
        sample.append(texts[p])
        size += len(texts[p].encode("utf-8"))
text = "\n\n".join(sample)
cut = text.rfind("\n\n", 0, 48_000)
with open(os.path.join(OUT, "heldout.txt"), "w", encoding="utf-8") as f:
    f.write(text[:cut if cut > 0 else 48_000] + "\n")
# Prompts for `bffn verify --prompts` and the quick start: prose paragraphs of 150-600 characters from the held-out
# documentation files, at most 2 per file, 12 in all.
prompts = []
for p in files:
    if p in heldout and p.endswith(".rst.txt"):
        taken = 0
        for para in texts[p].split("\n\n"):
            para = para.strip()
            if 150 <= len(para) <= 600 and not para.startswith((".. ", "::", "*", "=", "-", "+", "|")) and "\n   " not in para:
                prompts.append(para)
                taken += 1
                if taken == 2:
                    break
with open(os.path.join(OUT, "prompts.txt"), "w", encoding="utf-8") as f:
    f.write("\n\n".join(prompts[:12]) + "\n")

print(f"{len(files)} files ({len(heldout)} held out), {meta['train_tokens']} training tokens ({meta['train_bytes']} bytes), "
      f"{meta['heldout_tokens']} held-out tokens ({meta['heldout_bytes']} bytes), vocabulary {meta['vocab_size']}")
