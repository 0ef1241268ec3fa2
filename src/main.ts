import 'reflect-metadata';
import { startApp } from './bootstrap';
import { ConfigValidationError } from './config/mayday-config';

startApp().catch((error: unknown) => {
  if (error instanceof ConfigValidationError) {
    process.stderr.write(`${error.message}\n`);
  } else {
    process.stderr.write(`Mayday failed to start: ${(error as Error)?.stack ?? String(error)}\n`);
  }
  process.exit(1);
});
