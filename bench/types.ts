/**
 * The shapes every benchmark part returns and the report reads. A figure is always a Summary of
 * repeated trials; ratios are computed against a baseline measured in the same run.
 */

/** Median and spread of repeated trials (all in the metric's unit). */
export interface Summary {
  readonly n: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** 25th and 75th percentiles: the spread the report prints. */
  readonly p25: number;
  readonly p75: number;
  /** Raw trial values, in measurement order (kept in the JSON for reanalysis). */
  readonly values: readonly number[];
}

/** A performance target of the issue and whether this run met it. */
export interface TargetCheck {
  readonly id: string;
  /** The target as the issue states it, e.g. "podnet/bridge <= 1.0". */
  readonly statement: string;
  /** The measured value compared with the limit (same unit as `limit`). */
  readonly measured: number;
  readonly limit: number;
  /** 'max': measured must be <= limit; 'min': >= limit. */
  readonly kind: 'max' | 'min';
  readonly met: boolean;
  /** When missed: by how much, and where the time goes (measurement or profile). */
  readonly note?: string;
}

/** One data-plane path measured on one underlay. */
export interface DataPathResult {
  /** 'veth' (default offloads: 64 KB segments pass) or 'wire' (segmentation offloads off). */
  readonly underlay: 'veth' | 'wire';
  /** Stable id, e.g. 'underlay', 'podnet-gre-flow', 'docker-overlay', 'kernel-vxlan', 'direct-routing', 'kbr0-only', 'kbr0-obr0-hop'. */
  readonly path: string;
  /** Human label for the report. */
  readonly label: string;
  /** TCP throughput in Gbit/s, one stream and four streams (iperf3). */
  readonly tcp1: Summary;
  readonly tcp4: Summary;
  /** ICMP round trip in microseconds (ping). */
  readonly pingUs: Summary;
  /** TCP request/response transactions per second (1-byte request, 1-byte answer, one connection). */
  readonly rrPerSec: Summary;
  /** What was special about this path (MTU, datapath, encapsulation), for the report. */
  readonly notes?: string;
}

export interface DataPlaneResult {
  readonly paths: readonly DataPathResult[];
  /** Cases that could not run here, with the reason (never silently dropped). */
  readonly skipped: readonly { readonly path: string; readonly underlay: 'veth' | 'wire'; readonly reason: string }[];
  readonly seconds: number;
}

export interface BenchOptions {
  readonly quick: boolean;
  /** Progress lines for the person running the benchmark (stderr). */
  readonly log: (line: string) => void;
}

/** Per-call latency of one plugin call over repeated trials: each trial's p50 and p99 (ms). */
export interface CallLatency {
  readonly p50: Summary;
  readonly p99: Summary;
}

/** CreateEndpoint + Join + Leave + DeleteEndpoint cycles (with the IPAM calls around them). */
export interface ApiRun {
  readonly mode: 'sequential' | 'concurrent';
  readonly concurrency: number;
  readonly cyclesPerTrial: number;
  /** Keyed by libnetwork call name (e.g. 'NetworkDriver.Join'). */
  readonly perCall: Readonly<Record<string, CallLatency>>;
  readonly cyclesPerSec: Summary;
  /** After the last Leave: ms until the kernel had removed every veth (deletion runs in the background). */
  readonly vethsGoneMs: Summary;
}

export interface ScaleLevel {
  /** Endpoints already present (made over the socket, each with its veth on kbr0). */
  readonly endpoints: number;
  /** RequestAddress + CreateEndpoint + Join, straight over the socket (ms per attach). */
  readonly apiAttachMs: Summary;
  /** `docker run --rm --network podnet img true` wall time (ms). */
  readonly dockerRunMs: Summary;
}

export interface ClusterScale {
  readonly peers: number;
  readonly topology: 'flow' | 'mesh';
  /** Full reconcile (obr0 removed by hand, then SIGHUP) until every flow is back: ms, seen from outside. */
  readonly fullReconcileMs: Summary;
  /** The same, as podnet logs it ("reconciled in N ms"). */
  readonly fullReconcileLoggedMs: Summary;
  /** The baseline: the same full reconcile with `baselinePeers` peers. */
  readonly baselinePeers: number;
  readonly baselineReconcileMs: Summary;
  /** One node added to the cluster file (written by rename), until its flows are in: ms. */
  readonly addNodeMs: Summary;
  /** A reconcile with nothing to change, as logged (the 30 s background pass): ms. */
  readonly steadyReconcileLoggedMs: Summary;
  readonly ovsPorts: number;
  readonly ovsFlows: number;
  /** Resident memory of the plugin process (MB): with the baseline cluster and with `peers` peers. */
  readonly rssBaselineMb: number;
  readonly rssMb: number;
}

export interface ControlPlaneResult {
  /**
   * `docker run --rm --network X img true` wall time (ms), interleaved rounds, for X = none,
   * Docker's default `bridge`, a user-defined bridge network, and podnet. Docker gives every
   * user-defined network (podnet's included) an embedded DNS resolver the default bridge lacks:
   * the user-defined bridge shows that share.
   */
  readonly attach: {
    readonly none: Summary;
    readonly bridge: Summary;
    readonly userBridge: Summary;
    readonly podnet: Summary;
    readonly podnetOverBridge: Summary;
    readonly podnetOverUserBridge: Summary;
  };
  /** The round trip of a call that does nothing (NetworkDriver.GetCapabilities): the transport's share. */
  readonly apiBaseline: CallLatency;
  readonly api: readonly ApiRun[];
  /**
   * The kernel's share of a Join, through podnet's own long-lived `ip -batch` session in a test
   * namespace: an empty request (the session's round trip) and the veth pair a Join makes; and
   * an `ip` process started per call, the way podnet worked before the session.
   */
  readonly joinKernel: { readonly emptyRequest: CallLatency; readonly vethPair: CallLatency; readonly spawnedIp: CallLatency };
  readonly nodeScale: readonly ScaleLevel[];
  readonly clusterScale: readonly ClusterScale[];
  readonly skipped: readonly { readonly part: string; readonly reason: string }[];
  readonly seconds: number;
}
