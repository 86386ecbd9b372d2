import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import {
  DATASET_NAMES,
  DATASETS,
  DEFAULT_EVENT_LOG,
  EVENT_LOG_EXTENSIONS,
  isDatasetName,
  namesAFile,
} from '../data/index.ts';
import { PocketrecError, UsageError } from '../errors.ts';
import { IMPORT_FORMATS } from '../model/import/defaults.ts';
import { MAX_JPQ_CENTROIDS } from '../model/jpq-codes.ts';
import { DEFAULT_CTR_TRAIN, DEFAULT_JPQ, DEFAULT_QR, defaultMlpOf } from '../train/defaults.ts';
import {
  DEFAULT_IMPORT,
  DEFAULT_LOGIT_KD,
  DEFAULT_PRUNE,
  DEFAULT_QUANTIZE,
  DEFAULT_RANKER,
  DEFAULT_UMEC,
  DEFAULT_UMEC_SEQUENCE,
  SEQUENTIAL_SHAPLEY_DEFAULTS,
  SHAPLEY_CLI_DEFAULTS,
} from './defaults.ts';
import type { DistillCliOptions } from './distill.ts';
import type { EvalCliOptions } from './eval.ts';
import type { ImportCliOptions } from './import.ts';
import type { EventLogCliOptions } from './options.ts';
import { EXIT, type Output, processOutput, terminalSafeOutput } from './output.ts';
import type { PriorCliOptions } from './prior.ts';
import type { PruneCliOptions } from './prune.ts';
import type { QuantizeCliOptions } from './quantize.ts';
import type { RankerCliOptions } from './ranker.ts';
import type { ReportCliOptions } from './report.ts';
import type { ShapleyCliOptions } from './shapley.ts';
import { oneLine } from './terminal-text.ts';
import type { TrainCtrCliOptions } from './train-ctr.ts';
import type { TuneRepeatsCliOptions } from './tune-repeats.ts';
import type { UmecCliOptions } from './umec-settings.ts';

// Registering the commands (options, defaults, help) imports nothing that loads tfjs, so
// `pocketrec --help` starts in a fraction of a second; each action imports its command's
// module when it runs (test/unit/cli/startup.test.ts keeps it so).
const NEXT_ITEM_NAMES = DATASET_NAMES.filter((n) => DATASETS[n].kind !== 'ctr').join(', ');
const CTR_NAMES = DATASET_NAMES.filter((n) => DATASETS[n].kind === 'ctr').join(', ');

// Options several commands take, defined once so they read alike everywhere.
const dataDirOption = () =>
  new Option('--data-dir <dir>', 'data directory (default: ../shared/data when it exists)');
const jsonOption = () => new Option('--json', 'print machine-readable JSON');
const qatOption = () =>
  new Option(
    '--qat <dtype>',
    'sequence models: quantisation-aware training, the loss seeing every weight matrix on the int8 or int4 grid (one scale per row) with straight-through gradients; store the result with pocketrec quantize --dtype <the same>',
  );
const noPriorOption = () =>
  new Option(
    '--no-prior',
    "next-item models: leave out the popularity prior (the training split's item counts, one byte an item, which an empty history is answered with)",
  );
// How a shop's event log file is read (docs/own-data.md), wherever a next-item --dataset is.
const LOG_FILE = `or a shop's event log file (${EVENT_LOG_EXTENSIONS.join(', ')})`;
const minItemCountOption = () =>
  new Option(
    '--min-item-count <n>',
    `event log file: drop the items with fewer events (default ${DEFAULT_EVENT_LOG.minItemCount})`,
  );
const eventsOption = () =>
  new Option(
    '--events <types>',
    `event log file: the event types to keep, comma-separated (default ${DEFAULT_EVENT_LOG.events.join(',')})`,
  );
const skipBadLinesOption = () =>
  new Option(
    '--skip-bad-lines',
    'event log file: skip the lines that cannot be read and count them by reason (default: stop at the first, naming its line and column)',
  );
const threadsOption = (what: string) =>
  new Option(
    '--threads <n>',
    `threads that share ${what}, the main one included (at most the cores)`,
  );

interface DataStatsCliOptions extends EventLogCliOptions {
  dataset?: string;
  json?: boolean;
  dataDir?: string;
}

/** `data stats`'s argument: a registry name, or something that names a file. */
function datasetArgument(value: string): string {
  if (isDatasetName(value) || namesAFile(value)) return value;
  throw new InvalidArgumentError(`Allowed choices are ${DATASET_NAMES.join(', ')}, ${LOG_FILE}.`);
}

/** The data set given as the argument or as --dataset, exactly one of them. */
function oneDataset(argument: string | undefined, option: string | undefined): string {
  if (argument !== undefined && option !== undefined) {
    throw new UsageError(`give the data set once: ${argument} or --dataset ${option}`);
  }
  const dataset = argument ?? option;
  if (dataset === undefined) {
    throw new UsageError('give a data set: data stats <name>, or data stats --dataset <file>');
  }
  return dataset;
}

function buildProgram(output: Output): Command {
  const program = new Command('pocketrec')
    .description('Train, compress, verify and inspect on-device recommendation models.')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => output.out(s.trimEnd()),
      writeErr: (s) => output.err(s.trimEnd()),
    })
    .showHelpAfterError('(run with --help for usage)');

  program
    .command('info')
    .description('show what a model package is and how small it is (verifies it first)')
    .argument('<model-dir>', 'model package directory')
    .addOption(jsonOption())
    .addOption(
      new Option(
        '--manifest',
        'print the whole verified manifest, indented (manifest.json itself is compact)',
      ).conflicts('json'),
    )
    .action(async (dir: string, options: { json?: boolean; manifest?: boolean }) =>
      (await import('./info.ts')).infoCommand(dir, options, output),
    );

  program
    .command('verify')
    .description('check every hash, shape, offset and weight of a model package')
    .argument('<model-dir>', 'model package directory')
    .addOption(jsonOption())
    .action(async (dir: string, options: { json?: boolean }) =>
      (await import('./verify.ts')).verifyCommand(dir, options, output),
    );

  program
    .command('repack')
    .description(
      "write a package again in this version's format (compact manifest, binary id map for integer ids), every tensor byte for byte",
    )
    .argument('<model-dir>', 'model package directory')
    .requiredOption('--out <dir>', 'package to write (may be <model-dir> itself: replaced whole)')
    .addOption(jsonOption())
    .action(async (dir: string, options: { out: string; json?: boolean }) =>
      (await import('./repack.ts')).repackCommand(dir, options, output),
    );

  program
    .command('prior')
    .description(
      "count each item in a data set's training split and write the counts as a popularity prior (what an empty history is answered with) into a next-item package, or alone as a sequential-popularity package",
    )
    .argument(
      '[model-dir]',
      'sequential package to add the prior to (absent: write a sequential-popularity package)',
    )
    .option('--dataset <name>', "data set to count (default: the package's own)")
    .requiredOption('--out <dir>', 'package to write (may be <model-dir> itself: replaced whole)')
    .option('--users <n>', 'count the first n users only (quick runs)')
    .option('--force', 'write over another model package that is already there')
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(async (model: string | undefined, options: PriorCliOptions) =>
      (await import('./prior.ts')).priorCommand(model, options, output),
    );

  const data = program.command('data').description('inspect the data sets the toolkit trains on');
  data
    .command('list')
    .description('list the known data sets')
    .addOption(jsonOption())
    .action(async (options: { json?: boolean }) =>
      (await import('./data.ts')).dataListCommand(options, output),
    );
  data
    .command('stats')
    .description(
      "load a data set, or a shop's event log file, with the training loaders and print its counts",
    )
    .addArgument(new Argument('[dataset]', 'data set name').argParser(datasetArgument))
    .option('--dataset <name-or-file>', `data set name (the argument's place), ${LOG_FILE}`)
    .addOption(minItemCountOption())
    .addOption(eventsOption())
    .addOption(skipBadLinesOption())
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(async (name: string | undefined, options: DataStatsCliOptions) =>
      (await import('./data.ts')).dataStatsCommand(
        oneDataset(name, options.dataset),
        options,
        output,
      ),
    );

  program
    .command('train')
    .description(
      'train the SASRec teacher (dense, RecJPQ or quotient-remainder item table) on a user or session data set, or a CTR model (FM, DeepFM, DCNv2, DLRM) on a CTR data set, and export it as a package',
    )
    .requiredOption('--model <model>', 'model to train: sasrec, fm, deepfm, dcnv2 or dlrm')
    .requiredOption(
      '--dataset <name>',
      `user or session data set for sasrec (${NEXT_ITEM_NAMES}), ${LOG_FILE}; CTR data set for the others (${CTR_NAMES})`,
    )
    .requiredOption('--out <dir>', 'model package directory to write')
    .option('--force', 'write over a model package that is already there')
    .option('--epochs <n>', 'most epochs (early stopping may end sooner)')
    .option('--dim <n>', 'embedding and hidden size')
    .option(
      '--mlp <widths>',
      `CTR: hidden layer widths (default ${DEFAULT_CTR_TRAIN.mlp.join(',')}; dlrm ${defaultMlpOf('dlrm').join(',')})`,
    )
    .option(
      '--norm <kind>',
      `CTR: batch, layer or none after each hidden layer (default ${DEFAULT_CTR_TRAIN.norm})`,
    )
    .option('--cross-layers <n>', `DCNv2: cross layers (default ${DEFAULT_CTR_TRAIN.crossLayers})`)
    .option(
      '--interaction <op>',
      `DLRM: dot (the field vectors and their pairwise dot products) or cat (the field vectors alone) (default ${DEFAULT_CTR_TRAIN.interaction})`,
    )
    .option(
      '--embedding-l2 <f>',
      `CTR: λ of the L2 penalty λ/2·‖E‖² on the embedding table (default ${DEFAULT_CTR_TRAIN.embeddingL2})`,
    )
    .option(
      '--item-table <kind>',
      "sasrec: dense, jpq (RecJPQ: each item's vector joins rows of shared codebooks, its codes drawn from an SVD of the training data) or qr (quotient-remainder: item i's vector is quotient row ⌊i/m⌋ times remainder row i mod m) (default dense)",
    )
    .option(
      '--jpq-splits <m>',
      `--item-table jpq: sub-embeddings per item, dividing --dim (default ${DEFAULT_JPQ.splits})`,
    )
    .option(
      '--jpq-centroids <k>',
      `--item-table jpq: rows of each split's codebook, at most ${MAX_JPQ_CENTROIDS} (default ${DEFAULT_JPQ.centroids})`,
    )
    .option(
      '--qr-buckets <m>',
      `--item-table qr: remainder rows m, at most items + 1; the quotient table has ⌈(items + 1)/m⌉ (default ${DEFAULT_QR.buckets}: ⌈√(items + 1)⌉, the fewest rows in all)`,
    )
    .option(
      '--qr-operation <op>',
      `--item-table qr: how the two rows join, mult (element-wise product) or add (sum) (default ${DEFAULT_QR.operation})`,
    )
    .option('--max-len <n>', 'latest items the encoder sees')
    .option('--blocks <n>', 'self-attention blocks')
    .option('--heads <n>', 'attention heads')
    .option('--dropout <p>', 'dropout rate')
    .option(
      '--positions <scheme>',
      'position numbering: from-oldest (lets the browser reuse earlier positions) or from-latest',
    )
    .option(
      '--readout <kind>',
      'the query: last (the latest hidden state) or attention (pooled over the session)',
    )
    .option('--lr <rate>', 'Adam learning rate')
    .option('--batch <n>', 'users per batch')
    .option('--seed <n>', 'random seed')
    .option('--loss <kind>', 'full (softmax over every item) or sampled')
    .option('--negatives <n>', 'shared negatives per batch for --loss sampled')
    .option('--patience <n>', 'epochs without a better validation NDCG@10 before stopping')
    .option('--lr-decay <f>', 'learning-rate factor after an epoch without a better NDCG@10')
    .option(
      '--windows <policy>',
      "latest: each user's latest items; all: every window of the history",
    )
    .addOption(threadsOption('each batch'))
    .option('--users <n>', 'train on the first n users only (quick runs)')
    .option(
      '--init-from <dir>',
      'start from a dense package trained on the same data set (fine-tuning; its architecture is kept)',
    )
    .addOption(noPriorOption())
    .addOption(qatOption())
    .option(
      '--teacher <dir>',
      'sasrec: distil from this sequential package by its logits (any width; needs --loss full)',
    )
    .option(
      '--kd-alpha <a>',
      `--teacher: the KL to the teacher's softmax weighted a, the cross-entropy 1 - a (default ${DEFAULT_LOGIT_KD.alpha})`,
    )
    .option(
      '--kd-temperature <t>',
      `--teacher: softmax temperature of the KL (default ${DEFAULT_LOGIT_KD.temperature})`,
    )
    .addOption(minItemCountOption())
    .addOption(eventsOption())
    .addOption(skipBadLinesOption())
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(async (options: TrainCtrCliOptions) => {
      const { isCtrModelKind, trainCtrCommand } = await import('./train-ctr.ts');
      if (isCtrModelKind(options.model)) return trainCtrCommand(options.model, options, output);
      return (await import('./train.ts')).trainCommand(options, output);
    });

  program
    .command('distill')
    .description('compress a teacher into a tensor-train student by self-supervised distillation')
    .requiredOption('--teacher <dir>', 'sequential-dense teacher package (from pocketrec train)')
    .option(
      '--dataset <name-or-file>',
      `the teacher's data set (default: the one its package names); needed for an event log file, whose path the package does not keep`,
    )
    .requiredOption('--out <dir>', 'model package directory to write')
    .option('--force', 'write over a model package that is already there')
    .option('--tt-shape <shape>', 'auto, or rows:columns factors such as 15x15x16:4x4x4', 'auto')
    .option('--cores <n>', 'cores for --tt-shape auto (2 or 3)', '3')
    .requiredOption('--rank <r>', 'TT rank')
    .option('--stp <t>', 'semi-tensor product factor (1 = plain TT)', '1')
    .option('--epochs <n>', 'most epochs (early stopping may end sooner)')
    .option('--lr <rate>', 'Adam learning rate')
    .option('--batch <n>', 'users per batch')
    .option('--seed <n>', 'random seed')
    .option('--patience <n>', 'epochs without a better validation NDCG@10 before stopping')
    .option('--lr-decay <f>', 'learning-rate factor after an epoch without a better NDCG@10')
    .option('--loss <kind>', "the student's own loss: full or sampled")
    .option('--negatives <n>', 'shared negatives per batch for --loss sampled')
    .option('--alpha <a>', 'weight of KL(teacher || student); the student CE gets 1 - a')
    .option('--beta <b>', 'weight of InfoNCE between the recombined views')
    .option('--gamma <c>', "weight of the views' next-item prediction")
    .option('--temperature <T>', 'softmax temperature of the KL term')
    .option('--tau <t>', 'InfoNCE temperature')
    .option('--init-encoder <from>', 'student encoder start: teacher or random')
    .option(
      '--init-cores <from>',
      "TT cores start: teacher-fit (fitted to the teacher's table) or gaussian",
    )
    .option('--no-kd', 'ablation: no KL term (alpha 0)')
    .option('--no-contrastive', 'ablation: no InfoNCE term (beta 0)')
    .option('--no-predictive', 'ablation: no predictive term (gamma 0)')
    .addOption(noPriorOption())
    .option(
      '--windows <policy>',
      "latest: each user's latest items; all: every window of the history",
    )
    .addOption(threadsOption('each batch'))
    .addOption(qatOption())
    .option('--users <n>', 'train on the first n users only (quick runs)')
    .addOption(minItemCountOption())
    .addOption(eventsOption())
    .addOption(skipBadLinesOption())
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(async (options: DistillCliOptions) =>
      (await import('./distill.ts')).distillCommand(options, output),
    );

  const di = DEFAULT_IMPORT;
  program
    .command('import')
    .description(
      "make a sequential-dense package of a SASRec teacher trained elsewhere (scripts/torch/train_sasrec.py under torchrun, RecBole, pmixer's SASRec.pytorch) from its safetensors file, its architecture and item ids kept exactly",
    )
    .argument('<file>', 'safetensors file (scripts/torch/ writes them from each source)')
    .addOption(
      new Option('--from <format>', 'file format of <file>')
        .choices([...IMPORT_FORMATS])
        .default(di.from),
    )
    .addOption(
      new Option(
        '--layout <layout>',
        "the source's parameter names and architecture: recbole (RecBole's SASRec), pmixer (SASRec.pytorch), pocketrec (scripts/torch/train_sasrec.py)",
      )
        .choices([...di.layouts])
        .makeOptionMandatory(),
    )
    .option(
      '--config <json>',
      `the source's config as a JSON file (default: the file's __metadata__.config); unstated keys take the source's defaults: recbole hidden_act ${di.recbole.hidden_act}, layer_norm_eps ${di.recbole.layer_norm_eps}, hidden_dropout_prob ${di.recbole.hidden_dropout_prob}; pmixer norm_first ${di.pmixer.norm_first}, dropout_rate ${di.pmixer.dropout_rate}`,
    )
    .option(
      '--items <file>',
      "the source's item ids, one a line in its own numbering (RecBole: field2id_token['item_id']) (default: the file's __metadata__.items; pmixer: 1..n)",
    )
    .option(
      '--dataset <name-or-file>',
      `the data set the teacher was trained on, ${LOG_FILE}: recorded for distill and eval, and the item table put in its numbering`,
    )
    .requiredOption('--out <dir>', 'model package directory to write')
    .option('--force', 'write over a model package that is already there')
    .addOption(minItemCountOption())
    .addOption(eventsOption())
    .addOption(skipBadLinesOption())
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(async (file: string, options: ImportCliOptions) =>
      (await import('./import.ts')).importCommand(file, options, output),
    );

  program
    .command('tune-repeats')
    .description(
      "fit a session model's bonus for items already in the session on validation, and write it again with it",
    )
    .argument('<model>', 'model package directory (teacher or student)')
    .requiredOption('--dataset <name>', `session data set the model was trained on, ${LOG_FILE}`)
    .requiredOption('--out <dir>', 'model package directory to write')
    .option('--force', 'write over a model package that is already there')
    .option('--users <n>', 'validate on the first n sessions only (quick runs)')
    .addOption(minItemCountOption())
    .addOption(eventsOption())
    .addOption(skipBadLinesOption())
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(async (model: string, options: TuneRepeatsCliOptions) =>
      (await import('./tune-repeats.ts')).tuneRepeatsCommand(model, options, output),
    );

  program
    .command('eval')
    .description(
      'next-item models: rank every item for held-out targets (HR, NDCG, MRR at 5, 10, 20, the long tail); CTR models: AUC, LogLoss and field coverage of a split',
    )
    .argument('<model>', 'model package directory, or a baseline: mostpop, markov')
    .requiredOption('--dataset <name>', `data set to evaluate on, ${LOG_FILE}`)
    .addOption(
      new Option(
        '--protocol <protocol>',
        'full ranking, or 100 sampled negatives (published-number comparisons only)',
      )
        .choices(['full', 'sampled100'])
        .default('full'),
    )
    .addOption(
      new Option('--split <split>', 'held-out item to predict')
        .choices(['test', 'validation'])
        .default('test'),
    )
    .option('--users <n>', 'evaluate the first n users only (quick runs)')
    .addOption(minItemCountOption())
    .addOption(eventsOption())
    .addOption(skipBadLinesOption())
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(async (model: string, options: EvalCliOptions) =>
      isDatasetName(options.dataset) && DATASETS[options.dataset].kind === 'ctr'
        ? (await import('./eval-ctr.ts')).evalCtrCommand(model, options, output)
        : (await import('./eval.ts')).evalCommand(model, options, output),
    );

  const sd = SHAPLEY_CLI_DEFAULTS;
  const sq = SEQUENTIAL_SHAPLEY_DEFAULTS;
  program
    .command('shapley')
    .description(
      "estimate Shaver's Shapley value of every embedding element of a CTR package, or of a sequential-dense package's item table (resumable), for pruning to any budget",
    )
    .argument('<model>', 'ctr-dense or sequential-dense package directory (from pocketrec train)')
    .requiredOption(
      '--dataset <name>',
      `data set the model was trained on (CTR: ${CTR_NAMES}; or a user or session data set)`,
    )
    .requiredOption('--out <dir>', 'directory for the estimate and its running sums')
    .option(
      '--split <split>',
      `estimation rows: train, validation or train+validation (the public code's) (default ${sd.split}; sequential: train, each user's last training step, or validation, default ${sq.split})`,
    )
    .option('--fill <fill>', `an absent element reads: codebook or zero (default ${sd.fill})`)
    .option(
      '--samples-per-step <n>',
      `rows per forward pass, each adding (fields x dim + 1) rows (default ${sd.samplesPerStep}; sequential: users per step, each (rows read x dim + 1) windows, default ${sq.samplesPerStep})`,
    )
    .option(
      '--max-passes <n>',
      `passes over the rows at most (default ${sd.maxPasses}; sequential ${sq.maxPasses})`,
    )
    .option('--max-samples <n>', 'samples at most, over resumed runs too (default: no limit)')
    .option('--seed <n>', `seed of the row order and permutations (default ${sd.seed})`)
    .option(
      '--tolerance <f>',
      `stop when max standard error < f x range of the values, after ${sd.minPasses} full pass (default ${sd.tolerance})`,
    )
    .option(
      '--forward <mode>',
      `batched (one pass per step) or per-removal (one per removal; slow, for benchmarks) (default ${sd.forward})`,
    )
    .option(
      '--checkpoint-seconds <s>',
      `save the running sums at most this often (default ${sd.checkpointSeconds})`,
    )
    .addOption(threadsOption(`each step's samples (default ${sd.threads})`))
    .option('--users <n>', "sequential: the first n users' cases only (quick runs)")
    .addOption(minItemCountOption())
    .addOption(eventsOption())
    .addOption(skipBadLinesOption())
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(async (model: string, options: ShapleyCliOptions) =>
      (await import('./shapley.ts')).shapleyCommand(model, options, output),
    );

  const ud = DEFAULT_UMEC;
  program
    .command('umec')
    .description(
      "prune a DeepFM's or DLRM's fields and hidden units together to one FLOPs budget (UMEC; or magnitude, Group Lasso), fine-tune, and write the smaller model as a ctr-dense package; for a sequential package, narrow its SASRec blocks (query/key, value and feed-forward widths) to an encoder FLOPs budget (UMEC or magnitude) and write a package of its kind",
    )
    .argument(
      '<model>',
      'ctr-dense DeepFM or DLRM package directory, or a sequential-dense or sequential-tt package',
    )
    .requiredOption('--dataset <name>', 'the data set the package was trained on')
    .requiredOption(
      '--flops-budget <ratio>',
      "FLOPs per row allowed, as a fraction of the dense model's (a sequential package: of its encoder's), e.g. 0.5",
    )
    .requiredOption(
      '--out <dir>',
      'package to write (checkpoints beside it: <out>.search, <out>.finetune)',
    )
    .option('--method <method>', `umec, magnitude or group-lasso (default ${ud.method})`)
    .option(
      '--search-epochs <n>',
      `epochs of the UMEC or Group Lasso search (default ${ud.searchEpochs})`,
    )
    .option('--lr <rate>', `Adam rate of the search (default ${ud.lr})`)
    .option(
      '--batch <n>',
      `rows (sequential packages: users) per step of the search and fine-tuning (default ${ud.batch}; sequential ${DEFAULT_UMEC_SEQUENCE.batch})`,
    )
    .option('--s-lr <rate>', `UMEC: descent step of the pruned counts s (default ${ud.sLr})`)
    .option('--y-lr <rate>', `UMEC: ascent step of the layers' multipliers y (default ${ud.yLr})`)
    .option('--z-lr <rate>', `UMEC: ascent step of the budget's multiplier z (default ${ud.zLr})`)
    .option(
      '--prox-lr <rate>',
      `UMEC: step η of the proximal shrink 1/(1 + 2 η y) (default ${ud.proxLr}, the public code's SGD rate)`,
    )
    .option('--group-lasso <lambda>', `Group Lasso's strength λ (default ${ud.groupLasso})`)
    .option(
      '--scores <scale>',
      `UMEC: group scores as they are (raw, the paper's), over their layer's mean (relative) or over their weight count (mean) (default ${ud.scores})`,
    )
    .option(
      '--finetune <epochs>',
      `fine-tuning epochs of the smaller model, best validation epoch kept (default ${ud.finetune})`,
    )
    .option('--finetune-lr <rate>', `Adam rate of fine-tuning (default ${ud.finetuneLr})`)
    .option(
      '--kd-alpha <a>',
      `sequential packages: fine-tune distilled from the uncut model, the KL to its softmax weighted a and the cross-entropy 1 - a (default ${DEFAULT_UMEC_SEQUENCE.kdAlpha}: plain fine-tuning)`,
    )
    .addOption(threadsOption('each batch'))
    .option('--users <n>', 'sequential packages: train on the first n users only (quick runs)')
    .addOption(minItemCountOption())
    .addOption(eventsOption())
    .addOption(skipBadLinesOption())
    .addOption(dataDirOption())
    .option('--force', 'write over a package that is already there')
    .addOption(jsonOption())
    .action(async (model: string, options: UmecCliOptions) =>
      (await import('./umec.ts')).umecCommand(model, options, output),
    );

  program
    .command('prune')
    .description(
      "prune a CTR package's embedding table, or a sequential-dense package's item table, to each budget in one shot (Shaver, magnitude or random), as ctr-pruned or sequential-pruned packages",
    )
    .argument('<model>', 'ctr-dense or sequential-dense package directory (from pocketrec train)')
    .requiredOption(
      '--sparsity <list>',
      'fractions of the embedding elements to prune, e.g. 0.5,0.8,0.95,0.99',
    )
    .requiredOption('--out <dir>', 'package to write (with several budgets: <dir>-s<percent> each)')
    .option(
      '--method <method>',
      `shaver (codebook fill), shaver-zero (zero fill), magnitude or random (default ${DEFAULT_PRUNE.method})`,
    )
    .option('--shapley <dir>', 'the estimate from pocketrec shapley (shaver, shaver-zero)')
    .option(
      '--layout <layout>',
      `how kept positions are stored: auto (the smaller of bitmap and csr), bitmap, csr, progressive (CTR only) (default ${DEFAULT_PRUNE.layout})`,
    )
    .option(
      '--dtype <dtype>',
      `kept values: float32, float16 or int8 (default ${DEFAULT_PRUNE.dtype})`,
    )
    .option(
      '--chunk-elements <n>',
      `progressive: the most elements per chunk; chunks also end at each sparser --sparsity given (default ${DEFAULT_PRUNE.chunkElements})`,
    )
    .option(
      '--prefix-sparsity <list>',
      'progressive: sparser budgets whose prefixes must be exactly the model pruned to them, e.g. 0.95,0.99',
    )
    .option('--seed <n>', `random's permutation (default ${DEFAULT_PRUNE.seed})`)
    .option(
      '--finetune <epochs>',
      `CTR only: fine-tune each pruned model with its mask frozen, on the package's data set, keeping the best validation epoch (default ${DEFAULT_PRUNE.finetune}: none)`,
    )
    .option('--finetune-lr <rate>', `Adam rate of --finetune (default ${DEFAULT_PRUNE.finetuneLr})`)
    .addOption(threadsOption('each --finetune batch'))
    .addOption(dataDirOption())
    .option('--force', 'write over packages that are already there')
    .addOption(jsonOption())
    .action(async (model: string, options: PruneCliOptions) =>
      (await import('./prune.ts')).pruneCommand(model, options, output),
    );

  program
    .command('quantize')
    .description(
      "store a sequential or ctr-dense package's weight matrices as int8 or int4 (per tensor, row or output channel, whichever changes validation outputs least) or float16, and write it as a package of its kind",
    )
    .argument('<model>', 'sequential (dense, tt, jpq, qr) or ctr-dense package directory')
    .requiredOption('--out <dir>', 'package to write')
    .option('--dtype <dtype>', `int8, int4 or float16 (default ${DEFAULT_QUANTIZE.dtype})`)
    .option(
      '--dataset <name>',
      'the data set whose validation split chooses the schemes (default: the one the package was trained on)',
    )
    .option(
      '--probe <n>',
      `validation users, sessions or rows whose outputs choose each tensor's scheme (default ${DEFAULT_QUANTIZE.probe})`,
    )
    .option('--users <n>', 'sequential packages: load the first n users only (quick runs)')
    .addOption(minItemCountOption())
    .addOption(eventsOption())
    .addOption(skipBadLinesOption())
    .addOption(dataDirOption())
    .option('--force', 'write over a package that is already there')
    .addOption(jsonOption())
    .action(async (model: string, options: QuantizeCliOptions) =>
      (await import('./quantize.ts')).quantizeCommand(model, options, output),
    );

  const dr = DEFAULT_RANKER;
  program
    .command('ranker')
    .description(
      "make a CTR package the second stage of on-device recommendations: write its ranker file (context fields, every item's fields, candidates) into a copy, with the fusion weight fitted on a context storefront's validation shoppers against a next-item model, and report NDCG@10 of retrieval alone and with the ranker on its test shoppers",
    )
    .argument('<model>', 'ctr-dense or ctr-pruned package trained on <dataset>-clicks')
    .requiredOption('--retrieval <dir>', 'the next-item package whose candidates it re-ranks')
    .requiredOption(
      '--dataset <name>',
      'generated context storefront: storefront-context or storefront-flat',
    )
    .requiredOption('--out <dir>', 'package to write (may be <model> itself: replaced whole)')
    .option('--candidates <n>', `items retrieval proposes (default ${dr.candidates})`)
    .option(
      '--users <n>',
      'fit and measure on the first n held-out shoppers of each split (quick runs)',
    )
    .option(
      '--weight <w>',
      `a fixed fusion weight (default: the best on validation NDCG@${dr.k} of ${dr.weights.join(', ')})`,
    )
    .option('--force', 'write over another model package that is already there')
    .addOption(jsonOption())
    .action(async (model: string, options: RankerCliOptions) =>
      (await import('./ranker.ts')).rankerCommand(model, options, output),
    );

  program
    .command('report')
    .description(
      'evaluate model packages on a data set and write a results page: next-item data sets with the baselines; CTR data sets with dense, pruned and progressive-prefix rows, the Shapley estimates and a plot of AUC against bytes (<out>-auc-bytes.svg)',
    )
    .requiredOption('--dataset <name>', 'data set to evaluate on')
    .option('--models <dirs>', 'comma-separated model package directories')
    .option(
      '--out <file>',
      'markdown file to write, e.g. docs/results/ml-1m.md (a CTR page writes its plot beside it)',
    )
    .option('--users <n>', 'next-item: evaluate the first n users only (quick runs)')
    .option(
      '--frontier',
      'next-item: write the accuracy-against-package-bytes page instead (families, Pareto front, the best model per budget against the best dense SASRec; plot beside it as <out>.svg)',
    )
    .addOption(minItemCountOption())
    .addOption(eventsOption())
    .addOption(skipBadLinesOption())
    .addOption(dataDirOption())
    .addOption(jsonOption())
    .action(async (options: ReportCliOptions) => {
      const { checkReportOptions, reportCommand } = await import('./report.ts');
      checkReportOptions(options);
      const ctr = isDatasetName(options.dataset) && DATASETS[options.dataset].kind === 'ctr';
      if (ctr && options.frontier) {
        throw new UsageError('--frontier is for next-item data sets; a CTR page has its plot');
      }
      if (!ctr) return reportCommand(options, output);
      return (await import('./report-ctr.ts')).reportCtrCommand(options, output);
    });

  return program;
}

const USAGE_CODES = new Set(['usage', 'unknown-dataset']);

/** Runs the CLI and returns the exit code instead of exiting, so tests can call it in-process. */
export async function main(
  argv: readonly string[],
  given: Output = processOutput,
): Promise<number> {
  // Whatever Output the caller passes, commands and commander write through the escaping one.
  const output = terminalSafeOutput(given);
  const program = buildProgram(output);
  if (argv.length === 0) {
    program.outputHelp();
    return EXIT.usage;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      const ok =
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help';
      return ok ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof PocketrecError) {
      // One line by design, yet it may quote a package's strings: a newline in them must not
      // forge a line of output.
      output.err(`pocketrec: ${oneLine(error.message)}`);
      // A data set name that does not exist is a mistake on the command line, like a bad flag.
      return USAGE_CODES.has(error.code) ? EXIT.usage : EXIT.failure;
    }
    output.err(
      `pocketrec: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    return EXIT.failure;
  }
}
