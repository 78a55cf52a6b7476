import { forbidden, notFound, notModified } from '../../drivers/update-server/index.ts';
import { requirement } from '../framework/index.ts';
import { install, md5, PULL_TRIGGER, refusesUpdate, reportedMd5, sourceFor } from './http-update-kit.ts';
import { appImage, withPullSession } from './pull-kit.ts';

requirement(
  'http-update/responses/1',
  'MUST',
  '304 Not Modified is "no update": HTTP_UPDATE_NO_UPDATES, nothing written, no reboot',
  { ...PULL_TRIGGER, source: sourceFor('Response handling: 304 → HTTP_UPDATE_NO_UPDATES') },
  async (context) => {
    await refusesUpdate(context, {
      what: '304 Not Modified',
      fault: () => notModified(),
      expectLine: /HTTP_UPDATE_NO_UPDATES/,
    });
  },
);

requirement(
  'http-update/responses/2',
  'MUST',
  '403 Forbidden fails with HTTP_UE_SERVER_FORBIDDEN (-103), nothing written, no reboot',
  { ...PULL_TRIGGER, source: sourceFor('Response handling: 403 → -103') },
  async (context) => {
    await refusesUpdate(context, { what: '403 Forbidden', fault: () => forbidden(), expectCode: -103 });
  },
);

requirement(
  'http-update/responses/3',
  'MUST',
  '404 Not Found fails with HTTP_UE_SERVER_FILE_NOT_FOUND (-102), nothing written, no reboot',
  { ...PULL_TRIGGER, source: sourceFor('Response handling: 404 → -102') },
  async (context) => {
    await refusesUpdate(context, { what: '404 Not Found', fault: () => notFound(), expectCode: -102 });
  },
);

requirement(
  'http-update/responses/4',
  'MUST',
  'a 200 with a valid image is written and booted: the next request carries its version and sketch MD5',
  { ...PULL_TRIGGER, source: sourceFor('Response handling: 200, step 8 (ESP.restart() after Update.end())') },
  async (context) => {
    await withPullSession(context.target, notModified(), async (session) => {
      // Two in a row: the second proves the first one's image was the one running.
      await install(context, session, appImage(context.target));
      const second = appImage(context.target);
      const after = await install(context, session, second);
      context.check(
        reportedMd5(context.target, after) === md5(second.bytes),
        `the check after the update carries the new sketch MD5 ${md5(second.bytes)}`,
        `${reportedMd5(context.target, after)}`,
      );
    });
  },
);
