import { configTableMarkdown } from '../config';

/** Prints the README's configuration table, generated from the config schema. */
process.stdout.write(`${configTableMarkdown()}\n`);
