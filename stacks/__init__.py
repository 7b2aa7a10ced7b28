"""Infrastructure: the typed config, one stack composing constructs, and the constructs."""
