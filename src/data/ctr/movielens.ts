/**
 * MovieLens-1M as click data, the setup of RecBole's ml-1m context-aware benchmark: a
 * rating of 4 or 5 is a click, 1 or 2 a non-click, and 3 (neither) is dropped, leaving
 * 739,012 rows. Fields follow RecBole's ml-1m.user/.item atomic files, all tokens:
 * user_id, item_id, gender, age, occupation, zip_code, release_year, and genres as a
 * multi-valued field.
 */
import { DataFormatError } from '../../errors.ts';
import { GrowableInt32Array } from '../growable.ts';
import { readMovies, readRatingsChrono, readUsers } from '../ml1m.ts';
import { Interner, type RawTable } from './encode.ts';

export interface MovieLensCtrFiles {
  readonly ratingsFile: string;
  readonly usersFile: string;
  readonly moviesFile: string;
}

/** Ratings >= this are clicks; see NEUTRAL_RATING for the rest. */
const POSITIVE_FROM = 4;
/** Neither a click nor a non-click, as in RecBole's `threshold` setup. */
const NEUTRAL_RATING = 3;

const USER_FIELDS = ['gender', 'age', 'occupation', 'zip_code'] as const;

/** Per user, its four attribute codes; `interners` give each field's codes out. */
async function loadUserCodes(
  file: string,
  interners: readonly Interner<string>[],
): Promise<Map<number, Int32Array>> {
  const users = new Map<number, Int32Array>();
  for await (const user of readUsers(file)) {
    const values = [user.gender, String(user.age), String(user.occupation), user.zipCode];
    users.set(
      user.userId,
      Int32Array.from(values, (v, f) => interners[f]?.code(v) ?? -1),
    );
  }
  return users;
}

interface MovieCodes {
  /** -1 when the title has no "(YYYY)" at its end. */
  readonly year: number;
  readonly genres: Int32Array;
}

async function loadMovieCodes(
  file: string,
  genreInterner: Interner<string>,
): Promise<{
  movies: Map<number, MovieCodes>;
  mostGenres: number;
}> {
  const movies = new Map<number, MovieCodes>();
  let mostGenres = 1;
  for await (const movie of readMovies(file)) {
    const year = /\((\d{4})\)\s*$/.exec(movie.title)?.[1];
    movies.set(movie.movieId, {
      year: year === undefined ? -1 : Number(year),
      genres: Int32Array.from(movie.genres, (genre) => genreInterner.code(genre)),
    });
    mostGenres = Math.max(mostGenres, movie.genres.length);
  }
  return { movies, mostGenres };
}

export async function readMovieLensCtr(files: MovieLensCtrFiles): Promise<RawTable> {
  const userInterners = USER_FIELDS.map(() => new Interner<string>());
  const genreInterner = new Interner<string>();
  const users = await loadUserCodes(files.usersFile, userInterners);
  const { movies, mostGenres } = await loadMovieCodes(files.moviesFile, genreInterner);
  const userIds = new GrowableInt32Array(1 << 20);
  const itemIds = new GrowableInt32Array(1 << 20);
  const attributes = USER_FIELDS.map(() => new GrowableInt32Array(1 << 20));
  const years = new GrowableInt32Array(1 << 20);
  const genres = new GrowableInt32Array(mostGenres << 20);
  const labels = new GrowableInt32Array(1 << 20);
  const file = files.ratingsFile;
  for await (const { userId, movieId, rating, line } of readRatingsChrono(file)) {
    if (rating === NEUTRAL_RATING) continue;
    const user = users.get(userId);
    if (user === undefined) {
      throw new DataFormatError(file, line, `user ${userId} is not in ${files.usersFile}`);
    }
    const movie = movies.get(movieId);
    if (movie === undefined) {
      throw new DataFormatError(file, line, `movie ${movieId} is not in ${files.moviesFile}`);
    }
    userIds.push(userId);
    itemIds.push(movieId);
    for (let f = 0; f < USER_FIELDS.length; f++) attributes[f]?.push(user[f] as number);
    years.push(movie.year);
    genres.pushAll(movie.genres);
    for (let slot = movie.genres.length; slot < mostGenres; slot++) genres.push(-1);
    labels.push(rating >= POSITIVE_FROM ? 1 : 0);
  }
  return {
    numRows: labels.length,
    labels: Uint8Array.from(labels.toArray()),
    columns: [
      // UserID, MovieID and the year are their own codes.
      { kind: 'categorical', name: 'user_id', codes: userIds.toArray(), valueText: String },
      { kind: 'categorical', name: 'item_id', codes: itemIds.toArray(), valueText: String },
      ...USER_FIELDS.map((name, f) => {
        const interner = userInterners[f] as Interner<string>;
        return {
          kind: 'categorical' as const,
          name,
          codes: attributes[f]?.toArray() ?? new Int32Array(0),
          valueText: (code: number) => interner.valueAt(code),
        };
      }),
      { kind: 'categorical', name: 'release_year', codes: years.toArray(), valueText: String },
      {
        kind: 'multi',
        name: 'genres',
        width: mostGenres,
        codes: genres.toArray(),
        valueText: (code) => genreInterner.valueAt(code),
      },
    ],
  };
}
