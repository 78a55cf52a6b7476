/**
 * The GET page: two multipart forms posting to the same path, one file field `firmware` and one
 * `filesystem` (reference §2.1/§2.2). The wording is this project's own; only the form fields,
 * their accept lists and the empty action are what the library serves.
 */
export function uploadFormPage(filesystemAccept: string): string {
  return [
    '<!DOCTYPE html>',
    "<html lang='en'><head><meta charset='utf-8'><title>Update</title></head><body>",
    "<form method='POST' action='' enctype='multipart/form-data'>",
    "Firmware:<br><input type='file' accept='.bin,.bin.gz' name='firmware'>",
    "<input type='submit' value='Update Firmware'></form>",
    "<form method='POST' action='' enctype='multipart/form-data'>",
    `FileSystem:<br><input type='file' accept='${filesystemAccept}' name='filesystem'>`,
    "<input type='submit' value='Update FileSystem'></form>",
    '</body></html>',
  ].join('\n');
}

/**
 * The page of a sketch that serves its own form instead of the library's, as the ESP32
 * OTAWebUpdater example does: one file field named `update` and no filesystem form. The server
 * still flashes it as firmware (any name but `filesystem` is), yet the fields the library's page
 * names are gone.
 */
export function singleFieldFormPage(): string {
  return [
    '<!DOCTYPE html>',
    "<html lang='en'><head><meta charset='utf-8'><title>Update</title></head><body>",
    "<form method='POST' action='' enctype='multipart/form-data'>",
    "<input type='file' name='update'>",
    "<input type='submit' value='Update'></form>",
    '</body></html>',
  ].join('\n');
}
