//! The byte-level BPE tokenizer, read from the `tokenizer.json` that `models/tokenizer.py`
//! trains with Hugging Face `tokenizers`, and reproducing its encoding exactly (the trainer's
//! test vectors in `models/tokenizer-vectors.json` are checked by `cargo test`).
//!
//! Encoding: the pre-tokenizer's regular expression (read from the file, so there is one
//! definition) splits text into chunks; each chunk's UTF-8 bytes map to the GPT-2 byte alphabet
//! and the learned merges are applied lowest rank first, leftmost first on ties. Special tokens
//! are never produced from text: source that contains `<|endoftext|>` is encoded as text.

use std::collections::HashMap;

use regex::Regex;
use serde::Deserialize;

/// A token id.
pub type TokenId = u32;

/// Why a tokenizer file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// Not the JSON layout `tokenizers` writes.
    #[error("tokenizer.json is not readable: {0}")]
    Format(String),
    /// Readable, but not the byte-level BPE this runtime reproduces.
    #[error("tokenizer.json is not a byte-level BPE with a regex split: {0}")]
    Unsupported(String),
}

/// A trained byte-level BPE tokenizer.
pub struct Tokenizer {
    split: Regex,
    /// (left, right) → (rank, merged token).
    merges: HashMap<(TokenId, TokenId), (usize, TokenId)>,
    /// The token of each byte.
    byte_tokens: [TokenId; 256],
    special: HashMap<TokenId, String>,
    /// The bytes each token stands for (none for special tokens).
    text_bytes: Vec<Vec<u8>>,
}

#[derive(Deserialize)]
struct File {
    added_tokens: Vec<AddedToken>,
    pre_tokenizer: PreTokenizer,
    model: BpeModel,
}

#[derive(Deserialize)]
struct AddedToken {
    id: TokenId,
    content: String,
}

#[derive(Deserialize)]
struct PreTokenizer {
    #[serde(default)]
    pretokenizers: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct BpeModel {
    r#type: String,
    vocab: HashMap<String, TokenId>,
    merges: Vec<Merge>,
    #[serde(default)]
    ignore_merges: bool,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Merge {
    Pair(String, String),
    Joined(String),
}

impl Tokenizer {
    /// Reads a `tokenizer.json`.
    pub fn from_json(json: &str) -> Result<Self, TokenizerError> {
        let file: File = serde_json::from_str(json).map_err(|e| TokenizerError::Format(e.to_string()))?;
        if file.model.r#type != "BPE" || file.model.ignore_merges {
            return Err(TokenizerError::Unsupported(format!("model type {}", file.model.r#type)));
        }
        let pattern = file
            .pre_tokenizer
            .pretokenizers
            .iter()
            .find(|p| p["type"] == "Split")
            .and_then(|p| p["pattern"]["Regex"].as_str())
            .ok_or_else(|| TokenizerError::Unsupported("no Split pre-tokenizer with a regex".into()))?;
        let split = Regex::new(pattern).map_err(|e| TokenizerError::Unsupported(e.to_string()))?;

        let vocab = file.model.vocab;
        let id = |token: &str| {
            vocab
                .get(token)
                .copied()
                .ok_or_else(|| TokenizerError::Format(format!("{token:?} is not in the vocabulary")))
        };
        let byte_to_char = byte_alphabet();
        let mut byte_tokens = [0; 256];
        for (byte, c) in byte_to_char.iter().enumerate() {
            byte_tokens[byte] = id(&c.to_string())?;
        }
        let mut merges = HashMap::with_capacity(file.model.merges.len());
        for (rank, merge) in file.model.merges.into_iter().enumerate() {
            let pair = match merge {
                Merge::Pair(left, right) => (left, right),
                Merge::Joined(joined) => {
                    let (left, right) = joined
                        .split_once(' ')
                        .ok_or_else(|| TokenizerError::Format(format!("merge {joined:?} has no space")))?;
                    (left.to_owned(), right.to_owned())
                }
            };
            let merged = id(&format!("{}{}", pair.0, pair.1))?;
            merges.insert((id(&pair.0)?, id(&pair.1)?), (rank, merged));
        }

        let mut vocab = vocab;
        let mut special = HashMap::new();
        for added in file.added_tokens {
            vocab.insert(added.content.clone(), added.id);
            special.insert(added.id, added.content);
        }
        let size = vocab.values().max().map_or(0, |max| *max as usize + 1);
        let mut tokens = vec![String::new(); size];
        for (token, id) in &vocab {
            tokens[*id as usize] = token.clone();
        }
        let char_to_byte: HashMap<char, u8> =
            byte_to_char.iter().enumerate().map(|(byte, c)| (*c, byte as u8)).collect();
        let text_bytes = (0..tokens.len())
            .map(|id| {
                if special.contains_key(&(id as TokenId)) {
                    Vec::new()
                } else {
                    tokens[id].chars().filter_map(|c| char_to_byte.get(&c).copied()).collect()
                }
            })
            .collect();
        Ok(Self { split, merges, byte_tokens, special, text_bytes })
    }

    /// Number of token ids (the model's vocabulary size).
    pub fn vocab_size(&self) -> usize {
        self.text_bytes.len()
    }

    /// The id of a special token such as `<|fim_prefix|>`.
    pub fn special(&self, content: &str) -> Option<TokenId> {
        self.special.iter().find(|(_, c)| c.as_str() == content).map(|(id, _)| *id)
    }

    /// The bytes of text a token stands for; empty for a special token.
    pub fn text_bytes(&self, id: TokenId) -> &[u8] {
        self.text_bytes.get(id as usize).map_or(&[], Vec::as_slice)
    }

    /// The last piece the pre-tokenizer splits `text` into (a word with its leading space, a run
    /// of punctuation, a number, spaces, or a newline with the indentation after it): merges
    /// never cross it, so the text before it encodes to a prefix of the whole text's tokens.
    pub fn last_piece<'a>(&self, text: &'a str) -> &'a str {
        match self.split.find_iter(text).last() {
            Some(found) if found.end() == text.len() => found.as_str(),
            Some(found) => &text[found.end()..],
            None => text,
        }
    }

    /// Encodes text (never producing special tokens).
    pub fn encode(&self, text: &str) -> Vec<TokenId> {
        let mut ids = Vec::with_capacity(text.len() / 3);
        let mut last = 0;
        for found in self.split.find_iter(text) {
            if found.start() > last {
                self.encode_chunk(&text[last..found.start()], &mut ids);
            }
            self.encode_chunk(found.as_str(), &mut ids);
            last = found.end();
        }
        if last < text.len() {
            self.encode_chunk(&text[last..], &mut ids);
        }
        ids
    }

    fn encode_chunk(&self, chunk: &str, ids: &mut Vec<TokenId>) {
        let mut symbols: Vec<TokenId> = chunk.bytes().map(|b| self.byte_tokens[b as usize]).collect();
        loop {
            let best = symbols
                .windows(2)
                .enumerate()
                .filter_map(|(at, pair)| {
                    self.merges.get(&(pair[0], pair[1])).map(|(rank, merged)| (*rank, at, *merged))
                })
                .min();
            let Some((_, at, merged)) = best else { break };
            symbols[at] = merged;
            symbols.remove(at + 1);
        }
        ids.extend_from_slice(&symbols);
    }

    /// Decodes ids to text; special tokens are written out, bytes that are not valid UTF-8
    /// (a token boundary inside a character) become U+FFFD.
    pub fn decode(&self, ids: &[TokenId]) -> String {
        String::from_utf8_lossy(&self.decode_bytes(ids)).into_owned()
    }

    /// Decodes ids to raw bytes (a streaming caller joins them before turning them into text).
    pub fn decode_bytes(&self, ids: &[TokenId]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for id in ids {
            if let Some(special) = self.special.get(id) {
                bytes.extend_from_slice(special.as_bytes());
            } else {
                bytes.extend_from_slice(self.text_bytes(*id));
            }
        }
        bytes
    }
}

/// GPT-2's reversible map from bytes to printable characters.
fn byte_alphabet() -> [char; 256] {
    let mut table = ['\0'; 256];
    let printable = |b: u32| (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b);
    let mut next = 256;
    for byte in 0..256u32 {
        let code = if printable(byte) {
            byte
        } else {
            next += 1;
            next - 1
        };
        table[byte as usize] = char::from_u32(code).unwrap_or('\u{fffd}');
    }
    table
}
