// @ts-check
// The entry point every page loads (templates/base.html): the one module that starts anything.

import { init } from "./page.js";

init();
