/** The llama.cpp backend (one GGUF model through node-llama-cpp); see backend.ts. */
export { DEFAULT_PREFILL_CHUNK_TOKENS, LlamaCppBackend, type LlamaCppBackendOptions } from './backend';
export { embeddingSpaceOf, type ModelFileValidator } from './describe';
