import { defineConfig } from 'vite';
import { webMapViteConfig } from './src/build.js';

export default defineConfig(webMapViteConfig());
