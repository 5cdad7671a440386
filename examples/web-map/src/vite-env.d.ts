/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** `{z}/{x}/{y}` tile URL used when the page's query has no `tiles`. */
  readonly VITE_TILE_URL?: string;
}
