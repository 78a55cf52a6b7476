export * from './esp32/index.ts';
export * from './esp8266/index.ts';
