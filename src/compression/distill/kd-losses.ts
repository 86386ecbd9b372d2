/**
 * The loss terms of self-supervised knowledge distillation (Xia et al., SIGIR 2022): the
 * student's cross-entropy fused with the KL divergence from the teacher's next-item
 * distribution to the student's, and InfoNCE between two recombined views of a session.
 */
import * as tf from '@tensorflow/tfjs';
import {
  chunkedSoftmaxLoss,
  chunkNegLogLikelihood,
  MIN_PROBABILITY,
  pickPerRow,
  rowLogSumExp,
} from '../../train/item-softmax.ts';

/**
 * The student's full-softmax next-item loss with the teacher's distribution mixed in:
 *
 *   (1 - α)·CE(softmax(zs), y) + α·τ²·KL(softmax(zt/τ) ‖ softmax(zs/τ)),
 *   zs = Hs·Esᵀ (student), zt = Ht·Etᵀ (teacher, constant), over every item but padding.
 *
 * Both terms are functions of the same student logits, so one product per chunk serves
 * both and the gradient w.r.t. zs is a single matrix, (1 - α)·(ps - y) + α·τ·(ps_τ - pt_τ):
 * the separate KL of the first version cost a second student product forward and two
 * backward. α = 1 is the plain KL term (for the sampled student loss).
 *
 * The KL's value avoids a log over every logit: with lse the log-sum-exp of a row,
 * KL = Σ pt·(zt - zs) + lse_s - lse_t, and lse = z[j] - log p[j] at any j, taken where the
 * teacher's probability is largest so that it cannot underflow.
 */
export function distilledCrossEntropy(
  studentHidden: tf.Tensor2D,
  studentTable: tf.Tensor2D,
  targets: tf.Tensor1D,
  teacherHidden: tf.Tensor2D,
  teacherTable: tf.Tensor2D,
  options: { alpha: number; temperature: number; chunkLogits?: number },
): tf.Scalar {
  const { alpha, temperature: tau } = options;
  // Only the logits meet: the teacher may be wider than the student.
  const teacherDim = teacherHidden.shape[1];
  const padding = new Float32Array(teacherTable.shape[0]);
  padding[0] = -1e9;
  return chunkedSoftmaxLoss(
    studentHidden,
    studentTable,
    targets,
    1 - alpha,
    (zs, start, size) => {
      const bias = tf.tensor1d(padding);
      const zt = tf.matMul(
        teacherHidden.slice([start, 0], [size, teacherDim]),
        teacherTable,
        false,
        true,
      );
      const zsT = tau === 1 ? zs : zs.div(tau);
      const ztT = (tau === 1 ? zt.add(bias) : zt.add(bias).div(tau)) as tf.Tensor2D;
      const ps = tf.softmax(zs) as tf.Tensor2D;
      const psT = tau === 1 ? ps : (tf.softmax(zsT) as tf.Tensor2D);
      const ptT = tf.softmax(ztT) as tf.Tensor2D;
      const j = ptT.argMax(1) as tf.Tensor1D;
      const lseT = pickPerRow(ztT, j).sub(pickPerRow(ptT, j).log());
      const lseS = pickPerRow(zsT as tf.Tensor2D, j).sub(
        pickPerRow(psT, j).maximum(MIN_PROBABILITY).log(),
      );
      const kl = ptT.mul(ztT.sub(zsT)).sum().add(lseS.sub(lseT).sum());
      let value = kl.mul(alpha * tau * tau) as tf.Scalar;
      if (alpha < 1) {
        const ce = chunkNegLogLikelihood(ps, targets.slice([start], [size]));
        value = value.add(ce.mul(1 - alpha));
      }
      // At τ = 1 the gradient is ps - α·pt: two passes over the chunk instead of four.
      const gradient = (
        tau === 1 ? ps.sub(ptT.mul(alpha)) : ps.mul(1 - alpha).add(psT.sub(ptT).mul(alpha * tau))
      ) as tf.Tensor2D;
      return { value, gradient };
    },
    options,
  );
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
