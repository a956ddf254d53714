/**
 * Reads a JSON array from a byte stream one element at a time, so an export of any size is never
 * held whole in memory: only the element being read is. Scanning bytes is safe for UTF-8, since
 * the bytes of a multi-byte character never equal `"`, `\`, `[`, `]`, `{`, `}` or `,`.
 */
export async function* jsonArrayItems(chunks: AsyncIterable<Uint8Array>, what: string): AsyncGenerator<unknown> {
  let started = false;
  let ended = false;
  let depth = 0;
  let inString = false;
  let escaped = false;
  /** Parts of the element being read, from earlier chunks. */
  let parts: Uint8Array[] = [];
  let inElement = false;
  let separated = true; // a `,` (or the opening `[`) was seen since the last element
  let count = 0;

  const fail = (why: string): never => {
    throw new SyntaxError(`${what} is not a JSON array: ${why}`);
  };
  const finish = (chunk: Uint8Array, start: number, end: number): unknown => {
    const tail = chunk.subarray(start, end);
    const text = parts.length === 0 ? Buffer.from(tail.buffer, tail.byteOffset, tail.byteLength).toString('utf8') : Buffer.concat([...parts, tail]).toString('utf8');
    parts = [];
    inElement = false;
    separated = false;
    count++;
    try {
      return JSON.parse(text);
    } catch (error) {
      return fail(`an element does not parse (${(error as Error).message})`);
    }
  };

  for await (const chunk of chunks) {
    let start = 0; // where the current element starts in this chunk, when inElement
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      if (inString) {
        if (escaped) escaped = false;
        else if (byte === 0x5c) escaped = true;
        else if (byte === 0x22) inString = false;
        continue;
      }
      if (byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09) continue;
      if (ended) fail('text after the closing "]"');
      if (!started) {
        if (byte !== 0x5b) fail('it does not start with "["');
        started = true;
        depth = 1;
        continue;
      }
      if (depth === 1 && !inElement && byte !== 0x2c && byte !== 0x5d) {
        if (!separated) fail('a "," is missing between elements');
        inElement = true;
        start = i;
      }
      switch (byte) {
        case 0x22:
          inString = true;
          break;
        case 0x5b:
        case 0x7b:
          depth++;
          break;
        case 0x5d:
        case 0x7d:
          depth--;
          if (depth === 0) {
            if (byte !== 0x5d) fail('a "}" closes the array');
            if (inElement) yield finish(chunk, start, i);
            else if (count > 0) fail('a "," before the closing "]"');
            ended = true;
          }
          break;
        case 0x2c:
          if (depth === 1) {
            if (!inElement) fail('an empty element');
            yield finish(chunk, start, i);
            separated = true;
          }
          break;
      }
    }
    if (inElement) parts.push(chunk.subarray(start));
  }
  if (!started) fail('it is empty');
  if (!ended) fail('it ends early (truncated)');
}
