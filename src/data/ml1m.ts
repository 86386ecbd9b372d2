import { DataFormatError } from '../errors.ts';
import {
  expectFieldCount,
  type Position,
  parseIntegerField,
  parseItemId,
  parseNonNegative,
  quote,
} from './fields.ts';
import { readDataLines } from './lines.ts';
import { groupUserBlocks, type UserItemEvent, type UserSequence } from './sequences.ts';

/** A row of the rebuilt `ratings_chrono.tsv`. */
export interface ChronoRating {
  readonly userId: number;
  readonly movieId: number;
  /** Whole stars, 1..5. */
  readonly rating: number;
  /** 0-based position in the user's chronological order; not a timestamp. */
  readonly seqPos: number;
  readonly line: number;
}

/** A row of GroupLens `ratings.dat`. */
export interface GroupLensRating {
  readonly userId: number;
  readonly movieId: number;
  readonly rating: number;
  /** Seconds since the Unix epoch. */
  readonly timestamp: number;
  readonly line: number;
}

export interface Movie {
  readonly movieId: number;
  readonly title: string;
  readonly genres: string[];
}

export interface MovieLensUser {
  readonly userId: number;
  readonly gender: 'F' | 'M';
  /** Age bracket code from the GroupLens README (1, 18, 25, 35, 45, 50, 56). */
  readonly age: number;
  /** Occupation code 0..20 from the GroupLens README. */
  readonly occupation: number;
  /** Kept as text: some are ZIP+4 ("98107-4021") and leading zeros matter. */
  readonly zipCode: string;
}

export const RATINGS_CHRONO_HEADER = 'user_id\tmovie_id\trating\tseq_pos';

/** The GroupLens .dat files separate fields with '::'. */
const DAT_SEPARATOR = '::';

export async function* readRatingsChrono(file: string): AsyncGenerator<ChronoRating> {
  for await (const { text, number } of readDataLines(file, { header: RATINGS_CHRONO_HEADER })) {
    const at = { file, line: number };
    const fields = text.split('\t');
    expectFieldCount(fields, 4, 'user_id, movie_id, rating, seq_pos separated by tabs', at);
    yield {
      userId: parseNonNegative(fields[0] as string, 'user id', at),
      movieId: parseItemId(fields[1] as string, at, 'movie id'),
      rating: parseStars(fields[2] as string, at),
      seqPos: parseNonNegative(fields[3] as string, 'seq_pos', at),
      line: number,
    };
  }
}

/** `UserID::MovieID::Rating::Timestamp`, the original GroupLens ratings.dat layout. */
export async function* readGroupLensRatings(file: string): AsyncGenerator<GroupLensRating> {
  for await (const { text, number } of readDataLines(file)) {
    const at = { file, line: number };
    const fields = text.split(DAT_SEPARATOR);
    expectFieldCount(fields, 4, 'UserID::MovieID::Rating::Timestamp', at);
    yield {
      userId: parseNonNegative(fields[0] as string, 'user id', at),
      movieId: parseItemId(fields[1] as string, at, 'movie id'),
      rating: parseStars(fields[2] as string, at),
      timestamp: parseNonNegative(fields[3] as string, 'timestamp', at),
      line: number,
    };
  }
}

/** `MovieID::Title::Genres`; the file is ISO-8859-1 (titles such as "Misérables"). */
export async function* readMovies(file: string): AsyncGenerator<Movie> {
  for await (const { text, number } of readDataLines(file, { encoding: 'latin1' })) {
    const at = { file, line: number };
    const fields = text.split(DAT_SEPARATOR);
    expectFieldCount(fields, 3, 'MovieID::Title::Genres', at);
    const genres = fields[2] as string;
    yield {
      movieId: parseItemId(fields[0] as string, at, 'movie id'),
      title: fields[1] as string,
      genres: genres.length === 0 ? [] : genres.split('|'),
    };
  }
}

/** `UserID::Gender::Age::Occupation::Zip-code`. */
export async function* readUsers(file: string): AsyncGenerator<MovieLensUser> {
  for await (const { text, number } of readDataLines(file, { encoding: 'latin1' })) {
    const at = { file, line: number };
    const fields = text.split(DAT_SEPARATOR);
    expectFieldCount(fields, 5, 'UserID::Gender::Age::Occupation::Zip-code', at);
    const gender = fields[1] as string;
    if (gender !== 'F' && gender !== 'M') {
      throw new DataFormatError(file, number, `gender ${quote(gender)} is not F or M`);
    }
    yield {
      userId: parseNonNegative(fields[0] as string, 'user id', at),
      gender,
      age: parseNonNegative(fields[2] as string, 'age', at),
      occupation: parseNonNegative(fields[3] as string, 'occupation', at),
      zipCode: fields[4] as string,
    };
  }
}

/**
 * Each user's movie ids in chronological order, from ratings_chrono.tsv. The file is sorted
 * by user, then seq_pos; that is checked (seq_pos must run 0, 1, 2, … within each user)
 * because a shuffled file would otherwise yield plausible but wrong sequences.
 */
export async function* readRatingSequences(file: string): AsyncGenerator<UserSequence> {
  yield* groupUserBlocks(checkChronologicalOrder(readRatingsChrono(file), file), file);
}

async function* checkChronologicalOrder(
  ratings: AsyncIterable<ChronoRating>,
  file: string,
): AsyncGenerator<UserItemEvent> {
  let previousUser = -1;
  let expectedPos = 0;
  for await (const { userId, movieId, seqPos, line } of ratings) {
    if (userId !== previousUser) expectedPos = 0;
    if (seqPos !== expectedPos) {
      throw new DataFormatError(
        file,
        line,
        `seq_pos ${seqPos} for user ${userId}, expected ${expectedPos}; rows must be sorted by user_id, then seq_pos`,
      );
    }
    previousUser = userId;
    expectedPos++;
    yield { userId, itemId: movieId, line };
  }
}

/** ML-1M ratings are whole stars. */
function parseStars(token: string, at: Position): number {
  const rating = parseIntegerField(token, 'rating', 0, at);
  if (rating < 1 || rating > 5) {
    throw new DataFormatError(at.file, at.line, `rating ${rating} is outside 1..5`);
  }
  return rating;
}
