export * from './esp32/index.ts';
