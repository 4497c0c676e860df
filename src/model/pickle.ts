/**
 * A restricted reader of Python pickles (https://docs.python.org/3/library/pickle.html, opcodes
 * from CPython's Lib/pickletools.py), for the `data.pkl` of `torch.save` archives. It never runs
 * code: globals resolve only to the names the caller allows, and any other GLOBAL (os.system,
 * builtins.eval, …) is refused when it is read, before anything could call it. Object-building
 * opcodes that call arbitrary classes (INST, OBJ, NEWOBJ, extension codes) are refused too.
 */

export class PickleError extends Error {
  override name = 'PickleError';
  constructor(
    /** `truncated`: the bytes end before STOP (more of the file may still be on its way). */
    readonly code: 'forbidden' | 'unsupported' | 'corrupt' | 'truncated',
    message: string,
  ) {
    super(message);
  }
}

/** A Python tuple (kept apart from lists, which become arrays). */
export class PyTuple {
  constructor(readonly items: unknown[]) {}
}

/** A global the caller allowed: `module.name`. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

export interface PickleHooks {
  /** Whether `module.name` may be referenced; everything else is refused. */
  allowGlobal(module: string, name: string): boolean;
  /** REDUCE: `callable(*args)` for an allowed global; throw to refuse. */
  call(callable: PyGlobal, args: unknown[]): unknown;
  /** BINPERSID / PERSID: the object a persistent id stands for (torch: a storage). */
  persistentLoad(pid: unknown): unknown;
  /** BUILD: set `state` on `target`; throw to refuse. */
  build(target: unknown, state: unknown): void;
}

/** Runs the pickle in `bytes` and returns the object it builds. */
export function unpickle(bytes: Uint8Array, hooks: PickleHooks): unknown {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let pos = 0;
  let stack: unknown[] = [];
  const marks: unknown[][] = [];
  const memo = new Map<number, unknown>();

  const need = (n: number) => {
    if (pos + n > bytes.byteLength) throw new PickleError('truncated', 'the pickle is truncated');
  };
  const u8 = () => (need(1), bytes[pos++]);
  const u16 = () => (need(2), (pos += 2), v.getUint16(pos - 2, true));
  const u32 = () => (need(4), (pos += 4), v.getUint32(pos - 4, true));
  const i32 = () => (need(4), (pos += 4), v.getInt32(pos - 4, true));
  const u64 = () => (need(8), (pos += 8), Number(v.getBigUint64(pos - 8, true)));
  const raw = (n: number) => (need(n), (pos += n), bytes.subarray(pos - n, pos));
  const text = (n: number) => utf8.decode(raw(n));
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) throw new PickleError('truncated', 'the pickle is truncated');
    const s = new TextDecoder().decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = () => {
    if (stack.length === 0) throw new PickleError('corrupt', 'the pickle pops an empty stack');
    return stack.pop();
  };
  const top = () => {
    if (stack.length === 0) throw new PickleError('corrupt', 'the pickle reads an empty stack');
    return stack[stack.length - 1];
  };
  const popMark = () => {
    const items = stack;
    const previous = marks.pop();
    if (!previous) throw new PickleError('corrupt', 'the pickle closes a MARK it never opened');
    stack = previous;
    return items;
  };
  const global = (module: string, name: string) => {
    if (!hooks.allowGlobal(module, name)) {
      throw new PickleError(
        'forbidden',
        `the pickle refers to ${module}.${name}, which a file of tensors never needs: refused, nothing was run`,
      );
    }
    return new PyGlobal(module, name);
  };
  const littleInt = (b: Uint8Array): number => {
    let n = 0n;
    for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]);
    if (b.length > 0 && b[b.length - 1] & 0x80) n -= 1n << BigInt(8 * b.length);
    if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new PickleError('unsupported', 'the pickle holds an integer beyond 2^53');
    }
    return Number(n);
  };
  const setItems = (target: unknown, items: unknown[]) => {
    if (!(target instanceof Map)) throw new PickleError('corrupt', 'SETITEM(S) on a non-dict');
    for (let i = 0; i + 1 < items.length; i += 2) target.set(items[i], items[i + 1]);
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) throw new PickleError('unsupported', 'pickle protocol above 5');
        break;
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: // STOP
        return pop();
      case 0x28: // MARK
        marks.push(stack);
        stack = [];
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
      case 0x89: // NEWFALSE
        stack.push(op === 0x88);
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x8a: // LONG1
        stack.push(littleInt(raw(u8())));
        break;
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        stack.push(v.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x58: // BINUNICODE
        stack.push(text(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text(u64()));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(raw(u8()));
        break;
      case 0x42: // BINBYTES
        stack.push(raw(u32()));
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple([]));
        break;
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: {
        // TUPLE3
        const n = op - 0x84;
        if (stack.length < n) throw new PickleError('corrupt', 'a tuple larger than the stack');
        stack.push(new PyTuple(stack.splice(stack.length - n, n)));
        break;
      }
      case 0x74: {
        // TUPLE (popMark replaces `stack`: take the items before pushing)
        const items = popMark();
        stack.push(new PyTuple(items));
        break;
      }
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: {
        // LIST
        const items = popMark();
        stack.push(items);
        break;
      }
      case 0x61: {
        // APPEND
        const item = pop();
        (top() as unknown[]).push(item);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const list = top();
        if (!Array.isArray(list)) throw new PickleError('corrupt', 'APPENDS to a non-list');
        list.push(...items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: {
        // DICT
        const map = new Map();
        setItems(map, popMark());
        stack.push(map);
        break;
      }
      case 0x73: {
        // SETITEM
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const key = op === 0x68 ? u8() : u32();
        if (!memo.has(key)) throw new PickleError('corrupt', `the pickle reads memo ${key}, unset`);
        stack.push(memo.get(key));
        break;
      }
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        stack.push(global(module, line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') {
          throw new PickleError('corrupt', 'STACK_GLOBAL of non-strings');
        }
        stack.push(global(module, name));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const callable = pop();
        if (!(callable instanceof PyGlobal) || !(args instanceof PyTuple)) {
          throw new PickleError('corrupt', 'REDUCE of something that is not a global and a tuple');
        }
        stack.push(hooks.call(callable, args.items));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        hooks.build(top(), state);
        break;
      }
      case 0x51: // BINPERSID
        stack.push(hooks.persistentLoad(pop()));
        break;
      default:
        throw new PickleError(
          'unsupported',
          `the pickle uses opcode 0x${op.toString(16)} (${JSON.stringify(String.fromCharCode(op))}) at byte ${pos - 1}, which a file of tensors does not need: refused`,
        );
    }
  }
}
