"""llama.cpp's token types (``tokenizer.ggml.token_type``), shared by both vocabulary kinds."""

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
