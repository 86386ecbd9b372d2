/**
 * A dev-server plugin that lends the demo page real MovieLens titles from the local data
 * directory (`../shared/data`, or $POCKETREC_DATA_DIR): GET /local-data/ml-1m/titles.json.
 *
 * The data set's terms forbid redistribution, so the titles are read from the data
 * directory at request time and never copied into the repository, a build or the browser's
 * HTTP cache. Without the directory or its ml-1m/movies.dat the endpoint says so with
 * `{ available: false }` (a 200, so the page's probe leaves no error in the console) and the
 * page offers no ML-1M model. `vite build` leaves it out altogether. Tests name another
 * directory with the `pocketrecDataDir` config key (it survives a server restart, unlike an
 * environment variable changed after the start).
 */
import { existsSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { Plugin } from 'vite';
import { resolveDataDir } from '../../data/data-dir.ts';
import { readMovies } from '../../data/ml1m.ts';

declare module 'vite' {
  interface UserConfig {
    /** The data directory the local-data plugin reads; default as the CLI (resolveDataDir). */
    pocketrecDataDir?: string;
  }
}

export const ML1M_TITLES_PATH = '/local-data/ml-1m/titles.json';

const MOVIES_FILE = 'ml-1m/movies.dat';

/** The endpoint's answer (src/pages/demo/ml1m-titles.ts reads it). */
export type TitlesResponse =
  | { available: true; source: string; movies: { id: string; title: string; genres: string[] }[] }
  | { available: false; reason: string };

export function localDataPlugin(): Plugin {
  return {
    name: 'pocketrec-local-data',
    apply: 'serve',
    configureServer(server) {
      // Resolved once, when the server starts, like every other setting of the server.
      const moviesFile = findMoviesFile(server.config.pocketrecDataDir);
      let cached: Promise<TitlesResponse> | null = null;
      server.middlewares.use((req, res, next) => {
        if (req.method !== 'GET' || req.url?.split('?')[0] !== ML1M_TITLES_PATH) {
          next();
          return;
        }
        cached ??= titles(moviesFile);
        cached.then(
          (body) => send(res, 200, body),
          (error: unknown) => {
            cached = null;
            send(res, 500, {
              available: false,
              reason: error instanceof Error ? error.message : String(error),
            });
          },
        );
      });
    },
  };
}

function findMoviesFile(option: string | undefined): { path: string } | { reason: string } {
  let dataDir: string;
  try {
    dataDir = resolveDataDir(option);
  } catch (error) {
    return { reason: error instanceof Error ? error.message : String(error) };
  }
  const path = join(dataDir, MOVIES_FILE);
  return existsSync(path) ? { path } : { reason: `${path} does not exist` };
}

async function titles(moviesFile: { path: string } | { reason: string }): Promise<TitlesResponse> {
  if (!('path' in moviesFile)) return { available: false, reason: moviesFile.reason };
  const movies: { id: string; title: string; genres: string[] }[] = [];
  for await (const movie of readMovies(moviesFile.path)) {
    movies.push({ id: String(movie.movieId), title: movie.title, genres: movie.genres });
  }
  return { available: true, source: 'MovieLens 1M, movies.dat (GroupLens)', movies };
}

function send(res: ServerResponse, status: number, body: TitlesResponse): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(JSON.stringify(body));
}
