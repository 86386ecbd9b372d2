/**
 * The loss terms of self-supervised knowledge distillation (Xia et al., SIGIR 2022) other
 * than the student's own cross-entropy: the KL divergence from the teacher's next-item
 * distribution to the student's, and InfoNCE between two recombined views of a session.
 */
import * as tf from '@tensorflow/tfjs';
import { rowLogSumExp } from '../../train/item-softmax.ts';

/** Logits held at once, in floats: see train/item-softmax.ts for why the op is chunked. */
const CHUNK_LOGITS = 8 * 1024 * 1024;

/**
 * Mean over rows of KL(softmax(zt/τ) || softmax(zs/τ)) · τ², with zs = Hs·Esᵀ (student)
 * and zt = Ht·Etᵀ (teacher, constant), over every item but the padding row 0. The τ²
 * factor keeps the gradient's scale independent of the temperature (Hinton et al.).
 *
 * Chunked like itemCrossEntropy: the gradient w.r.t. the student's logits is
 * (p_s - p_t)·τ, so neither pass holds more than one chunk of [rows, items] logits.
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
  const step = Math.max(
    1,
    Math.min(numRows, Math.floor((options.chunkLogits ?? CHUNK_LOGITS) / numItems)),
  );
  const tau = temperature;
  const logits = (h: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D =>
    tf
      .matMul(h, w, false, true)
      .slice([0, 1], [h.shape[0], numItems - 1])
      .div(tau);
  const probabilities = (z: tf.Tensor2D): tf.Tensor2D =>
    tf.exp(z.sub(rowLogSumExp(z).reshape([-1, 1]))) as tf.Tensor2D;

  const op = tf.customGrad((hs, es, save) => {
    const Hs = hs as tf.Tensor2D;
    const Es = es as tf.Tensor2D;
    let total: tf.Scalar = tf.scalar(0);
    for (let start = 0; start < numRows; start += step) {
      const size = Math.min(step, numRows - start);
      const part = tf.tidy(() => {
        const zs = logits(Hs.slice([start, 0], [size, dim]), Es);
        const zt = logits(teacherHidden.slice([start, 0], [size, dim]), teacherTable);
        const pt = probabilities(zt);
        // KL = Σ p_t (z_t - lse_t) - Σ p_t (z_s - lse_s)
        const teacherTerm = pt.mul(zt).sum(1).sub(rowLogSumExp(zt));
        const studentTerm = pt.mul(zs).sum(1).sub(rowLogSumExp(zs));
        return teacherTerm.sub(studentTerm).sum() as tf.Scalar;
      });
      const next = total.add(part) as tf.Scalar;
      total.dispose();
      part.dispose();
      total = next;
    }
    // The teacher's tensors are saved too: the engine frees what the forward pass made.
    (save as tf.GradSaveFunc)([Hs, Es, teacherHidden, teacherTable]);
    return {
      value: total.mul((tau * tau) / numRows) as tf.Scalar,
      gradFunc: (dy, saved) => {
        const [HsS, EsS, HtS, EtS] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
        const scale = (dy as tf.Scalar).mul(tau / numRows);
        const dHsParts: tf.Tensor2D[] = [];
        let dEsT: tf.Tensor2D = tf.zeros([dim, numItems - 1]);
        for (let start = 0; start < numRows; start += step) {
          const size = Math.min(step, numRows - start);
          const [dH, dET] = tf.tidy(() => {
            const hs = HsS.slice([start, 0], [size, dim]);
            const diff = probabilities(logits(hs, EsS)).sub(
              probabilities(logits(HtS.slice([start, 0], [size, dim]), EtS)),
            );
            const items = EsS.slice([1, 0], [numItems - 1, dim]);
            return [tf.matMul(diff, items), tf.matMul(hs, diff, true, false)];
          });
          dHsParts.push(dH as tf.Tensor2D);
          const next = dEsT.add(dET as tf.Tensor2D) as tf.Tensor2D;
          dEsT.dispose();
          (dET as tf.Tensor).dispose();
          dEsT = next;
        }
        const dHs = (
          dHsParts.length === 1 ? (dHsParts[0] as tf.Tensor2D) : tf.concat(dHsParts)
        ).mul(scale);
        // Row 0 (padding) takes no part in the distributions.
        const dEs = tf.concat([tf.zeros([1, dim]), dEsT.transpose()]).mul(scale);
        return [dHs, dEs];
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
