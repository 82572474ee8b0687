from heteropool.sim.tokenizer import VOCAB_SIZE, Tokenizer, iter_output_text, output_piece


def test_encoding_is_deterministic_across_instances() -> None:
    text = "The quick brown fox jumps over the lazy dog, twice."
    assert Tokenizer().encode(text) == Tokenizer().encode(text)


def test_about_four_characters_per_token() -> None:
    text = " ".join(["internationalization"] * 100)
    tokens = Tokenizer().encode(text)
    assert 3.0 <= len(text) / len(tokens) <= 5.0
    assert all(0 <= t < VOCAB_SIZE for t in tokens)


def test_segments_joined_at_a_space_tokenize_as_the_whole() -> None:
    tok = Tokenizer()
    a, b = " You are a helpful assistant.", " What is KV caching?"
    assert tok.encode(a + b) == tok.encode(a) + tok.encode(b)


def test_count_equals_encoded_length() -> None:
    text = "mixed   whitespace\tand\nnewlines plus punctuation!!"
    tok = Tokenizer()
    assert tok.count(text) == len(tok.encode(text))


def test_generated_text_retokenizes_to_its_token_count() -> None:
    tok = Tokenizer()
    assert tok.count(output_piece(5)) == 1
    assert tok.count("".join(iter_output_text(300))) == 300
