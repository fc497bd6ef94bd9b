/**
 * The two sequential hypothesis tests that decide whether a process scans,
 * from the outcomes of its first contacts (a connect to a destination it
 * has not tried before: success = it was answered with a SYN-ACK, failure =
 * refused, or no answer). Pure.
 *
 * Threshold Random Walk (Jung, Paxson, Berger, Balakrishnan, "Fast Portscan
 * Detection Using Sequential Hypothesis Testing", IEEE S&P 2004): Wald's
 * sequential probability ratio test between H0 "benign: a first contact
 * succeeds with probability θ0" and H1 "scanner: it succeeds with θ1".
 * Each outcome multiplies the likelihood ratio Λ by
 *
 *     success: θ1/θ0 = 0.2/0.8 = 1/4      failure: (1-θ1)/(1-θ0) = 0.8/0.2 = 4
 *
 * and the walk stops at Λ >= η1 = P_D/P_F = 0.99/0.01 = 99 (scanner) or
 * Λ <= η0 = (1-P_D)/(1-P_F) = 0.01/0.99 ≈ 0.0101 (benign). With these
 * defaults (the paper's) four straight failures flag a scanner (4^4 = 256;
 * 4^3 = 64 is not enough) and four straight successes a benign process; the
 * paper gives about 5.4 first contacts on average for a scanner.
 *
 * Reverse sequential hypothesis testing (Schechter, Jung, Berger, "Fast
 * Detection of Scanning Worm Infections", RAID 2004), made for a local host's
 * own outgoing connects: the same ratio, but a benign conclusion is never
 * final. Run backwards from the newest observation, the test flags as soon
 * as some suffix of the history crosses η1; the paper's forward equivalent
 * keeps Λ = max(1, Λ·φ(Y)), so an old benign history cannot hide a new
 * infection: after any number of successes, four straight failures still
 * flag. Its default threshold is stricter than TRW's (false-positive rate
 * 0.0001: η1 = 9900, seven straight failures): TRW stops at its first
 * decision, while the reverse test runs for the whole life of a process and
 * so meets many more runs of bad luck (a P2P client with 30% dead peers
 * shows four failures in a row somewhere in 50 first contacts about one
 * time in four, seven in a row about one time in 500).
 */

export interface SequentialTestParameters {
  /** P(first contact succeeds | benign). Default 0.8. */
  theta0: number;
  /** P(first contact succeeds | scanner). Default 0.2. */
  theta1: number;
  /** Wanted detection probability. Default 0.99. */
  detection: number;
  /** Wanted false-positive probability. Default 0.01. */
  falsePositive: number;
}

/** The defaults of Jung et al. 2004 (see the header). */
export const TRW_DEFAULTS: SequentialTestParameters = Object.freeze({ theta0: 0.8, theta1: 0.2, detection: 0.99, falsePositive: 0.01 });

/** The reverse test's defaults: TRW's success rates, a stricter false-positive rate (see the header). */
export const REVERSE_DEFAULTS: SequentialTestParameters = Object.freeze({ theta0: 0.8, theta1: 0.2, detection: 0.99, falsePositive: 0.0001 });

export type TestDecision = "scanner" | "benign";

/** Checks the parameters; throws a RangeError naming the bad one. */
export function checkTestParameters(p: SequentialTestParameters): void {
  for (const [name, v] of Object.entries(p)) {
    if (!(v > 0 && v < 1)) throw new RangeError(`Cannot use ${name} ${v}: it must be a probability strictly between 0 and 1`);
  }
  if (!(p.theta1 < p.theta0)) throw new RangeError(`Cannot use theta1 ${p.theta1} with theta0 ${p.theta0}: a scanner's success rate (theta1) must be below a benign one's (theta0)`);
  if (!(p.falsePositive < p.detection)) throw new RangeError(`Cannot use falsePositive ${p.falsePositive} with detection ${p.detection}: the false-positive rate must be below the detection rate`);
}

/** The ratio's factors and thresholds, in log space (sums instead of products: no under- or overflow). */
class LogRatio {
  readonly success: number;
  readonly failure: number;
  readonly upper: number;
  readonly lower: number;

  constructor(p: SequentialTestParameters) {
    checkTestParameters(p);
    this.success = Math.log(p.theta1 / p.theta0);
    this.failure = Math.log((1 - p.theta1) / (1 - p.theta0));
    this.upper = Math.log(p.detection / p.falsePositive);
    this.lower = Math.log((1 - p.detection) / (1 - p.falsePositive));
  }
}

/** Rounding slack, so 4^4 >= 99 style comparisons do not depend on the last bit. */
const EPS = 1e-9;

/** Threshold Random Walk: stops at the first decision. */
export class ThresholdRandomWalk {
  readonly #r: LogRatio;
  #log = 0;
  #observations = 0;
  #decision?: TestDecision;

  constructor(parameters: SequentialTestParameters = TRW_DEFAULTS) {
    this.#r = new LogRatio(parameters);
  }

  /** The likelihood ratio Λ now. */
  get ratio(): number {
    return Math.exp(this.#log);
  }

  /** First contacts observed until (and including) the decision. */
  get observations(): number {
    return this.#observations;
  }

  get decision(): TestDecision | undefined {
    return this.#decision;
  }

  /** Observe one first contact; returns the decision when this observation made it. Ignored once decided. */
  observe(success: boolean): TestDecision | undefined {
    if (this.#decision) return undefined;
    this.#observations++;
    this.#log += success ? this.#r.success : this.#r.failure;
    if (this.#log >= this.#r.upper - EPS) this.#decision = "scanner";
    else if (this.#log <= this.#r.lower + EPS) this.#decision = "benign";
    return this.#decision;
  }
}

/** Reverse sequential hypothesis test: Λ = max(1, Λ·φ); flags at η1, never concludes benign. */
export class ReverseSequentialTest {
  readonly #r: LogRatio;
  #log = 0;
  #observations = 0;
  /** Observations since Λ last stood at 1: the suffix that is building up. */
  #run = 0;
  #flagged = false;

  constructor(parameters: SequentialTestParameters = REVERSE_DEFAULTS) {
    this.#r = new LogRatio(parameters);
  }

  get ratio(): number {
    return Math.exp(this.#log);
  }

  get observations(): number {
    return this.#observations;
  }

  /** First contacts in the suffix that flagged (or is building up): the restarts' length. */
  get run(): number {
    return this.#run;
  }

  get flagged(): boolean {
    return this.#flagged;
  }

  /** Observe one first contact; returns "scanner" when this observation flagged. Ignored once flagged. */
  observe(success: boolean): "scanner" | undefined {
    if (this.#flagged) return undefined;
    this.#observations++;
    this.#log += success ? this.#r.success : this.#r.failure;
    this.#run++;
    if (this.#log <= 0) {
      this.#log = 0;
      this.#run = 0;
    }
    if (this.#log >= this.#r.upper - EPS) {
      this.#flagged = true;
      return "scanner";
    }
    return undefined;
  }
}
