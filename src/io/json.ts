/**
 * JSON read from files, with syntax errors that never quote the file. V8's own messages do
 * (`Unexpected token 's', "secret: hunter2" is not valid JSON`), so a config.json that is a
 * symlink to a private file would put its first bytes into an error message, a log or a
 * verify report. {@link parseJson} keeps only where the error is.
 *
 * @example
 * ```ts
 * import { parseJson } from "./json.ts";
 * try {
 *   parseJson('{"a": secret}');
 * } catch (e) {
 *   console.log((e as Error).message); // not valid JSON (syntax error at line 1, column 7)
 * }
 * ```
 * @module
 */

import { FormatError } from "../errors.ts";

/** Line and column (1-based) of character `pos` of `text`. */
function lineColumn(text: string, pos: number): [number, number] {
  let line = 1, start = 0;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      start = i + 1;
    }
  }
  return [line, pos - start + 1];
}

/**
 * Offset of the first syntax error of `text` (RFC 8259), or -1 when it is valid. Only run
 * after `JSON.parse` failed, to say where.
 */
function syntaxErrorOffset(text: string): number {
  let i = 0;
  const n = text.length;
  class Bad extends Error {}
  const fail = (): never => {
    throw new Bad();
  };
  const ws = () => {
    while (i < n && " \t\n\r".includes(text[i])) i++;
  };
  const lit = (word: string) => {
    for (const ch of word) if (text[i++] !== ch) (i--, fail());
  };
  const str = () => {
    i++; // opening quote
    while (i < n && text[i] !== '"') {
      const c = text.charCodeAt(i);
      if (c < 0x20) fail();
      if (text[i] === "\\") {
        i++;
        if (text[i] === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail();
          i += 4;
        } else if (!'"\\/bfnrt'.includes(text[i] ?? "")) fail();
      }
      i++;
    }
    if (i >= n) fail();
    i++;
  };
  const num = () => {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (!m || !m[0] || m[0] === "-") fail();
    i += m![0].length;
  };
  const value = (depth: number): void => {
    if (depth > 10000) fail();
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      ws();
      if (text[i] === "}") return void i++;
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        str();
        ws();
        if (text[i] !== ":") fail();
        i++;
        value(depth + 1);
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "}") return void i++;
        else fail();
      }
    }
    if (c === "[") {
      i++;
      ws();
      if (text[i] === "]") return void i++;
      for (;;) {
        value(depth + 1);
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "]") return void i++;
        else fail();
      }
    }
    if (c === '"') return str();
    if (c === "t") return lit("true");
    if (c === "f") return lit("false");
    if (c === "n") return lit("null");
    return num();
  };
  try {
    value(0);
    ws();
    return i < n ? i : -1;
  } catch (e) {
    if (e instanceof Bad || e instanceof RangeError) return Math.min(i, n);
    throw e;
  }
}

/**
 * Parses JSON text; a syntax error is a {@link FormatError} saying where it is (line and
 * column), never what the text holds. `path` names the file.
 */
export function parseJson(text: string, path?: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    const at = syntaxErrorOffset(text);
    let where = "a syntax error";
    if (at >= text.length) where = "it ends before the JSON value does";
    else if (at >= 0) {
      const [line, col] = lineColumn(text, at);
      where = `syntax error at line ${line}, column ${col}`;
    }
    throw new FormatError(`not valid JSON (${where})`, path);
  }
}
