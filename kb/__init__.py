"""Knowledge base: store, embeddings, indexes, search and answers."""
