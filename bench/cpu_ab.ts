/**
 * Interleaved A/B of a workload's CPU time per call between two checkouts on a loaded machine:
 * starts `bench/cpu_step.ts` of each checkout (one thread each, `nice -n 19`), then alternates
 * rounds of a few calls between them (A, B, B, A, ... so neither always runs first) and prints
 * the medians and minimums of each and the ratio. CPU time of the process's own calls (one
 * thread) is little disturbed by other processes; wall time on a shared machine is not.
 *
 *   XDG_RUNTIME_DIR=/tmp/xdg deno run -A --no-check bench/cpu_ab.ts <dirA> <dirB> \
 *     [cheetah-update|cheetah-plan|ci-update|5m-update|5m-plan] [--rounds 20] [--calls 5]
 *
 * `dirA` / `dirB` are checkouts (e.g. `git archive main | tar -x -C /tmp/base` and `.`); each
 * must have `bench/cpu_step.ts` (copy it into an older checkout).
 * @module
 */

const [dirA, dirB, workload = "cheetah-update"] = Deno.args.filter((a, i, all) =>
  !a.startsWith("--") && !all[i - 1]?.startsWith("--")
);
const opt = (k: string, d: number) => {
  const i = Deno.args.indexOf(k);
  return i >= 0 ? Number(Deno.args[i + 1]) : d;
};
const rounds = opt("--rounds", 20), calls = opt("--calls", 5);

interface Side {
  readonly name: string;
  readonly ms: number[];
  kernels: number;
  send(line: string): Promise<void>;
  next(): Promise<string>;
  child: Deno.ChildProcess;
}

function start(dir: string, name: string): Side {
  const child = new Deno.Command("nice", {
    args: ["-n", "19", Deno.execPath(), "run", "-A", "--no-check", "bench/cpu_step.ts", workload],
    cwd: dir,
    env: { WORLDFLUX_CPU_THREADS: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  return {
    name,
    ms: [],
    kernels: 0,
    child,
    send: (line) => writer.write(new TextEncoder().encode(line + "\n")),
    async next() {
      while (!buf.includes("\n")) {
        const r = await reader.read();
        if (r.done) throw new Error(`${name}: cpu_step ended`);
        buf += r.value;
      }
      const i = buf.indexOf("\n");
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      return line;
    },
  };
}

const sides = [start(dirA, "A"), start(dirB, "B")];
for (const s of sides) {
  const line = await s.next();
  s.kernels = Number(line.split(" ")[1]);
}
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? sides : [...sides].reverse();
  for (const s of order) {
    await s.send(`run ${calls}`);
    const line = await s.next();
    s.ms.push(...line.split(" ").slice(1).map(Number));
  }
}
for (const s of sides) {
  await s.send("quit");
  await s.child.status;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const [a, b] = sides;
console.log(`${workload}: CPU ms per call, ${rounds} interleaved rounds of ${calls} calls`);
for (const [s, dir] of [[a, dirA], [b, dirB]] as const) {
  console.log(
    `  ${s.name} median ${median(s.ms).toFixed(2)}  min ${Math.min(...s.ms).toFixed(2)}  ` +
      `kernels ${s.kernels}  (${dir})`,
  );
}
console.log(
  `  A/B: median ${(median(a.ms) / median(b.ms)).toFixed(3)}x, min ${
    (Math.min(...a.ms) / Math.min(...b.ms)).toFixed(3)
  }x`,
);
