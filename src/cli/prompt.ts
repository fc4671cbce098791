/**
 * Questions on a terminal, for commands that ask what their flags did not say (`worldflux init`
 * without DIR). A {@link Terminal} is the pair of streams and whether a person is at them, so a
 * test hands in its own streams and the CLI hands in stdin/stdout; a {@link Prompter} asks one
 * question at a time, shows the default in brackets, takes an empty answer as the default, a
 * choice by name or by number, and asks again (saying why) after an answer it cannot take.
 *
 * @example
 * ```ts
 * import { Prompter, type Terminal } from "./prompt.ts";
 * const term: Terminal = {
 *   input: ReadableStream.from([new TextEncoder().encode("2\n")]),
 *   output: new WritableStream(),
 *   isTerminal: true,
 * };
 * const p = new Prompter(term);
 * console.log(await p.ask({ label: "Family", choices: ["dreamerv3", "tdmpc2"], default: "dreamerv3" }));
 * // "tdmpc2"
 * p.close();
 * ```
 * @module
 */

/** Where a command talks with a person: what they type, what they see, and whether they are there. */
export interface Terminal {
  /** What the person types (stdin). */
  readonly input: ReadableStream<Uint8Array>;
  /** What the person sees (stdout). */
  readonly output: WritableStream<Uint8Array>;
  /** Whether both ends are a terminal: without one nothing is asked. */
  readonly isTerminal: boolean;
}

/** The process's stdin and stdout (streams taken only when a question is asked). */
export function stdioTerminal(): Terminal {
  return {
    get input() {
      return Deno.stdin.readable;
    },
    get output() {
      return Deno.stdout.writable;
    },
    isTerminal: Deno.stdin.isTerminal() && Deno.stdout.isTerminal(),
  };
}

/** The input ended (Ctrl-D, or a closed pipe) before a question was answered. */
export class PromptClosedError extends Error {
  /** Creates the error for the question `label`. */
  constructor(label: string) {
    super(`the input ended before "${label}" was answered`);
    this.name = "PromptClosedError";
  }
}

/** One question of {@link Prompter.ask}. */
export interface Question {
  /** What is asked (`Family`). */
  readonly label: string;
  /** The answer an empty line gives (shown in brackets). */
  readonly default?: string;
  /** The allowed answers; one may also be given by its number (1-based). */
  readonly choices?: readonly string[];
  /** Says what is wrong with an answer (shown before asking again), or null to take it. */
  readonly check?: (answer: string) => string | null | Promise<string | null>;
}

/** Asks questions on a {@link Terminal} (see the module docs). */
export class Prompter {
  readonly #term: Terminal;
  #reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  #writer: WritableStreamDefaultWriter<Uint8Array> | null = null;
  readonly #decoder = new TextDecoder();
  readonly #encoder = new TextEncoder();
  #buffer = "";
  #ended = false;

  /** Asks on `terminal`. */
  constructor(terminal: Terminal) {
    this.#term = terminal;
  }

  /** Shows `text` as it is. */
  async say(text: string): Promise<void> {
    this.#writer ??= this.#term.output.getWriter();
    await this.#writer.write(this.#encoder.encode(text));
  }

  /** The next line typed (without its line break), or null when the input ended. */
  async #line(): Promise<string | null> {
    for (;;) {
      const nl = this.#buffer.indexOf("\n");
      if (nl >= 0) {
        const line = this.#buffer.slice(0, nl).replace(/\r$/, "");
        this.#buffer = this.#buffer.slice(nl + 1);
        return line;
      }
      if (this.#ended) {
        if (!this.#buffer) return null;
        const last = this.#buffer;
        this.#buffer = "";
        return last;
      }
      this.#reader ??= this.#term.input.getReader();
      const { value, done } = await this.#reader.read();
      if (done) {
        this.#ended = true;
        this.#buffer += this.#decoder.decode();
      } else this.#buffer += this.#decoder.decode(value, { stream: true });
    }
  }

  /**
   * Asks `q` until it gets an answer it can take; throws a {@link PromptClosedError} when the
   * input ends first.
   */
  async ask(q: Question): Promise<string> {
    const choices = q.choices ?? [];
    const shown = `${q.label}${choices.length ? ` (${choices.join(", ")})` : ""}${
      q.default !== undefined ? ` [${q.default}]` : ""
    }: `;
    for (;;) {
      await this.say(shown);
      const line = await this.#line();
      if (line === null) {
        await this.say("\n");
        throw new PromptClosedError(q.label);
      }
      let answer = line.trim();
      if (!answer && q.default !== undefined) answer = q.default;
      let problem: string | null = null;
      if (!answer) problem = "an answer is needed";
      else if (choices.length) {
        const n = /^\d+$/.test(answer) ? Number(answer) : NaN;
        const picked = n >= 1 && n <= choices.length
          ? choices[n - 1]
          : choices.find((c) => c.toLowerCase() === answer.toLowerCase());
        if (picked === undefined) {
          problem = `"${answer}" is not one of ${choices.join(", ")} (a name or its number)`;
        } else answer = picked;
      }
      problem ??= (await q.check?.(answer)) ?? null;
      if (!problem) return answer;
      await this.say(`  ${problem}\n`);
    }
  }

  /** Lets go of the streams (they stay open: stdin and stdout belong to the process). */
  close(): void {
    this.#reader?.releaseLock();
    this.#writer?.releaseLock();
    this.#reader = null;
    this.#writer = null;
  }
}
