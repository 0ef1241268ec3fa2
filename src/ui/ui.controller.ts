import { Controller, Get, NotFoundException, Param, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The page's files: everything it loads comes from Mayday itself (no CDN, nothing from the internet). */
const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

// The page reads the status API with the token a person types in; nothing inline, nothing from elsewhere.
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * The rollout page at /ui/. The page itself is public (it holds no data); the data comes from the
 * status API, which needs the bearer token the person signs in with.
 */
@Controller('ui')
export class UiController {
  /** Read once: `npm run build` copies src/ui/public to dist/ui/public. */
  private readonly files = new Map(Object.keys(FILES).map((name) => [name, readFileSync(join(__dirname, 'public', name))]));

  @Get()
  page(@Req() request: Request, @Res() response: Response): void {
    // The page's links are relative to /ui/: /ui (no slash) would resolve them against /.
    if (!request.path.endsWith('/')) return response.redirect(302, 'ui/');
    this.send(response, 'index.html');
  }

  @Get(':file')
  file(@Param('file') file: string, @Res() response: Response): void {
    if (!Object.hasOwn(FILES, file)) throw new NotFoundException(`no such file: /ui/${file}`);
    this.send(response, file);
  }

  private send(response: Response, file: string): void {
    response
      .status(200)
      .set({
        'content-type': FILES[file],
        'cache-control': 'no-cache',
        'content-security-policy': CONTENT_SECURITY_POLICY,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
      })
      .send(this.files.get(file));
  }
}
