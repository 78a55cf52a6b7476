// The runner gives a target the suites of its profile; role-2 targets (kind update-server) of this
// profile get the update-server suites through this file.
import '../update-server/http-update.suite.ts';
