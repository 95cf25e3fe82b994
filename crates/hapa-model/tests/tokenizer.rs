//! The Rust tokenizer reproduces the trainer's encoding exactly: every vector that
//! `models/tokenizer.py` wrote (edge cases plus random corpus excerpts) encodes to the same ids
//! and decodes back to the same text.

use hapa_model::tokenizer::Tokenizer;

const MODELS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models");

#[derive(serde::Deserialize)]
struct Vectors {
    vocab_size: usize,
    vectors: Vec<Vector>,
}

#[derive(serde::Deserialize)]
struct Vector {
    text: String,
    ids: Vec<u32>,
}

fn load() -> (Tokenizer, Vectors) {
    let tokenizer =
        Tokenizer::from_json(&std::fs::read_to_string(format!("{MODELS}/tokenizer.json")).unwrap()).unwrap();
    let vectors = serde_json::from_str(&std::fs::read_to_string(format!("{MODELS}/tokenizer-vectors.json")).unwrap());
    (tokenizer, vectors.unwrap())
}

#[test]
fn encodes_every_trainer_vector_to_the_same_ids() {
    let (tokenizer, vectors) = load();
    assert_eq!(tokenizer.vocab_size(), vectors.vocab_size);
    assert!(vectors.vectors.len() >= 50, "too few vectors to mean anything");
    for vector in &vectors.vectors {
        assert_eq!(tokenizer.encode(&vector.text), vector.ids, "encoding {:?}", vector.text);
    }
}

#[test]
fn decodes_every_trainer_vector_back_to_its_text() {
    let (tokenizer, vectors) = load();
    for vector in &vectors.vectors {
        assert_eq!(tokenizer.decode(&vector.ids), vector.text);
    }
}

#[test]
fn special_token_text_in_source_stays_text() {
    let (tokenizer, _) = load();
    let end = tokenizer.special("<|endoftext|>").unwrap();
    let ids = tokenizer.encode("marker = '<|endoftext|>'");
    assert!(!ids.contains(&end), "source text produced a control token");
    assert_eq!(tokenizer.decode(&ids), "marker = '<|endoftext|>'");
}

#[test]
fn rejects_a_file_that_is_not_a_tokenizer() {
    let Err(error) = Tokenizer::from_json("{\"model\": 3}") else { panic!("accepted garbage") };
    assert!(error.to_string().contains("not readable"), "{error}");
}
