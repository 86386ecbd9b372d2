/**
 * The loss terms of self-supervised knowledge distillation (Xia et al., SIGIR 2022) other
 * than the student's own cross-entropy: the KL divergence from the teacher's next-item
 * distribution to the student's, and InfoNCE between two recombined views of a session.
 */
import * as tf from '@tensorflow/tfjs';
import { chunkRows, MIN_PROBABILITY, rowLogSumExp } from '../../train/item-softmax.ts';

/** Logits held at once, in floats: see train/item-softmax.ts for why the op is chunked. */
const CHUNK_LOGITS = 8 * 1024 * 1024;

/**
 * Mean over rows of KL(softmax(zt/τ) || softmax(zs/τ)) · τ², with zs = Hs·Esᵀ (student)
 * and zt = Ht·Etᵀ (teacher, constant), over every item but the padding row 0. The τ²
 * factor keeps the gradient's scale independent of the temperature (Hinton et al.).
 *
 * Chunked like itemCrossEntropy, and for the same reason it keeps only p_s - p_t per
 * chunk: the gradient w.r.t. the student's logits is (p_s - p_t)·τ.
 */
export function distillationKl(
  studentHidden: tf.Tensor2D,
  studentTable: tf.Tensor2D,
  teacherHidden: tf.Tensor2D,
  teacherTable: tf.Tensor2D,
  temperature: number,
  options: { chunkLogits?: number } = {},
): tf.Scalar {
  const [numRows, dim] = studentHidden.shape;
  const numItems = studentTable.shape[0];
  const step = chunkRows(numRows, numItems, options.chunkLogits ?? CHUNK_LOGITS);
  const tau = temperature;

  const op = tf.customGrad((hs, es, save) => {
    const Hs = hs as tf.Tensor2D;
    const Es = es as tf.Tensor2D;
    // Row 0 pads: a -1e9 logit takes it out of both distributions (and its gradient is 0).
    const padding = new Float32Array(numItems);
    padding[0] = -1e9;
    const bias = tf.tensor1d(padding);
    const distribution = (h: tf.Tensor2D, w: tf.Tensor2D) =>
      tf.softmax(tf.matMul(h, w, false, true).div(tau).add(bias)) as tf.Tensor2D;
    const differences: tf.Tensor2D[] = [];
    let total: tf.Scalar = tf.scalar(0);
    for (let start = 0; start < numRows; start += step) {
      const size = Math.min(step, numRows - start);
      const [difference, part] = tf.tidy(() => {
        const ps = distribution(Hs.slice([start, 0], [size, dim]), Es);
        const pt = distribution(teacherHidden.slice([start, 0], [size, dim]), teacherTable);
        const logRatio = pt.maximum(MIN_PROBABILITY).log().sub(ps.maximum(MIN_PROBABILITY).log());
        return [ps.sub(pt), pt.mul(logRatio).sum()];
      });
      differences.push(difference as tf.Tensor2D);
      const next = total.add(part as tf.Scalar) as tf.Scalar;
      total.dispose();
      (part as tf.Tensor).dispose();
      total = next;
    }
    (save as tf.GradSaveFunc)([Hs, Es, ...differences]);
    return {
      value: total.mul((tau * tau) / numRows) as tf.Scalar,
      gradFunc: (dy, saved) => {
        const [HsS, EsS, ...diffs] = saved as tf.Tensor2D[];
        const scale = (dy as tf.Scalar).mul(tau / numRows);
        const dHsParts: tf.Tensor2D[] = [];
        let dEsT: tf.Tensor2D = tf.zeros([dim, numItems]);
        diffs.forEach((diff, c) => {
          const start = c * step;
          const [dH, dET] = tf.tidy(() => [
            tf.matMul(diff, EsS as tf.Tensor2D),
            tf.matMul(
              (HsS as tf.Tensor2D).slice([start, 0], [diff.shape[0], dim]),
              diff,
              true,
              false,
            ),
          ]);
          dHsParts.push(dH as tf.Tensor2D);
          const next = dEsT.add(dET as tf.Tensor2D) as tf.Tensor2D;
          dEsT.dispose();
          (dET as tf.Tensor).dispose();
          dEsT = next;
        });
        const dHs = (
          dHsParts.length === 1 ? (dHsParts[0] as tf.Tensor2D) : tf.concat(dHsParts)
        ).mul(scale);
        return [dHs, dEsT.transpose().mul(scale)];
      },
    };
  });
  return op(studentHidden, studentTable) as tf.Scalar;
}

/**
 * Symmetric InfoNCE between two views [batch, dim] of the same sessions: row i of `a`
 * should match row i of `b` against every other row of the batch (in-batch negatives).
 * Views are L2-normalised; `tau` is the temperature (0.2 in the paper).
 */
export function infoNce(a: tf.Tensor2D, b: tf.Tensor2D, tau: number): tf.Scalar {
  return tf.tidy(() => {
    const na = a.div(a.square().sum(1, true).add(1e-12).sqrt());
    const nb = b.div(b.square().sum(1, true).add(1e-12).sqrt());
    const sim = tf.matMul(na, nb, false, true).div(tau) as tf.Tensor2D;
    const diagonal = na.mul(nb).sum(1).div(tau);
    const ab = rowLogSumExp(sim).sub(diagonal).mean();
    const ba = rowLogSumExp(sim.transpose() as tf.Tensor2D)
      .sub(diagonal)
      .mean();
    return ab.add(ba).div(2) as tf.Scalar;
  });
}
