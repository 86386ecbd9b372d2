/**
 * Train/validation/test splits. All inputs are subarray views of the loaded sequences:
 * ML-1M's 6,040 users would otherwise copy a million ids per split.
 */
import type { SessionDataset } from '../data/sessions.ts';

/** Prediction cases: predict targets[k] after inputs[k]. */
export interface EvalCases {
  readonly inputs: readonly Int32Array[];
  readonly targets: Int32Array;
}

export interface LeaveOneOutSplit {
  /** s[:-2] per user: what a model is fitted on while validation selects it. */
  readonly train: Int32Array[];
  /** Input s[:-2], target s[-2]. */
  readonly validation: EvalCases;
  /** Input s[:-1], target s[-1]. */
  readonly test: EvalCases;
  /** s[:-1] per user: what the test-time baselines are fitted on (the validation item included). */
  readonly trainAllButLast: Int32Array[];
  /** Users too short to hold out two items. */
  readonly shortUsers: number;
}

/** A user needs at least one item to condition on besides the two held out. */
export const MIN_LEAVE_ONE_OUT_LENGTH = 3;

/**
 * SASRec's leave-one-out. Users shorter than 3 keep their whole sequence for training and
 * yield no cases, as SASRec's data_partition does: dropping them would change the item
 * counts the models are fitted on (the Games file has users of length 1).
 */
export function leaveOneOut(sequences: readonly Int32Array[]): LeaveOneOutSplit {
  const train: Int32Array[] = [];
  const trainAllButLast: Int32Array[] = [];
  const validationInputs: Int32Array[] = [];
  const validationTargets: number[] = [];
  const testInputs: Int32Array[] = [];
  const testTargets: number[] = [];
  let shortUsers = 0;
  for (const s of sequences) {
    const n = s.length;
    if (n < MIN_LEAVE_ONE_OUT_LENGTH) {
      shortUsers++;
      train.push(s);
      trainAllButLast.push(s);
      continue;
    }
    const head = s.subarray(0, n - 2);
    train.push(head);
    validationInputs.push(head);
    validationTargets.push(s[n - 2] as number);
    const allButLast = s.subarray(0, n - 1);
    trainAllButLast.push(allButLast);
    testInputs.push(allButLast);
    testTargets.push(s[n - 1] as number);
  }
  return {
    train,
    validation: { inputs: validationInputs, targets: Int32Array.from(validationTargets) },
    test: { inputs: testInputs, targets: Int32Array.from(testTargets) },
    trainAllButLast,
    shortUsers,
  };
}

export interface SessionSplit {
  /** Whole training sessions (expand them with augmentSessions to train on prefixes). */
  readonly train: Int32Array[];
  readonly test: EvalCases;
}

/**
 * Each training sequence's last step as a case: input s[:-1], target s[-1]. For a
 * leave-one-out split that is the item before the validation one, so an estimate made on
 * these cases has not seen the items validation and test hold out.
 */
export function lastStepCases(sequences: readonly Int32Array[]): EvalCases {
  const inputs: Int32Array[] = [];
  const targets: number[] = [];
  for (const s of sequences) {
    if (s.length < 2) continue;
    inputs.push(s.subarray(0, s.length - 1));
    targets.push(s[s.length - 1] as number);
  }
  return { inputs, targets: Int32Array.from(targets) };
}

/** Session data sets come split by the published preprocessing; this only reshapes them. */
export function sessionSplit(dataset: SessionDataset): SessionSplit {
  return {
    train: dataset.trainSessions,
    test: { inputs: dataset.testPrefixes, targets: dataset.testTargets },
  };
}

/**
 * Session data sets come with a test split only; training needs a validation split for
 * early stopping. The last `fraction` of the training sessions (file order, which is time
 * order in the published preprocessing) is held out: each predicts its last click from
 * the clicks before it, the way the test prefixes do.
 */
export function sessionHoldout(
  sessions: readonly Int32Array[],
  fraction = 0.1,
): { train: Int32Array[]; validation: EvalCases } {
  const cut = Math.max(
    1,
    Math.min(sessions.length - 1, Math.round(sessions.length * (1 - fraction))),
  );
  return { train: sessions.slice(0, cut), validation: lastStepCases(sessions.slice(cut)) };
}
