import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CommandFailedError,
  ConflictError,
  ExhaustedError,
  InvalidOptionError,
  InvalidRequestError,
  LockedError,
  NotFoundError,
  PermissionError,
  PodnetError,
  SettingsError,
  UnsupportedError,
  errorMessage,
  type ErrorCode,
} from '../../src/errors';
import { errorBody } from '../../src/api/server';

const TABLE: ReadonlyArray<readonly [string, () => PodnetError, ErrorCode]> = [
  ['InvalidRequestError', () => new InvalidRequestError('bad body'), 'PODNET_ERR_INVALID_REQUEST'],
  ['InvalidOptionError', () => new InvalidOptionError('bad option'), 'PODNET_ERR_INVALID_OPTION'],
  ['NotFoundError', () => new NotFoundError('no such thing'), 'PODNET_ERR_NOT_FOUND'],
  ['ConflictError', () => new ConflictError('taken'), 'PODNET_ERR_CONFLICT'],
  ['ExhaustedError', () => new ExhaustedError('none left'), 'PODNET_ERR_EXHAUSTED'],
  ['UnsupportedError', () => new UnsupportedError('not yet'), 'PODNET_ERR_UNSUPPORTED'],
  ['SettingsError', () => new SettingsError('bad env'), 'PODNET_ERR_SETTINGS'],
  ['LockedError', () => new LockedError('locked'), 'PODNET_ERR_LOCKED'],
  ['PermissionError', () => new PermissionError('not root'), 'PODNET_ERR_PERMISSION'],
  ['CommandFailedError', () => new CommandFailedError(['ip', 'link', 'add', 'kbr0'], 2, 'RTNETLINK answers: File exists\n'), 'PODNET_ERR_COMMAND_FAILED'],
];

describe('errors', () => {
  for (const [name, make, code] of TABLE) {
    test(`${name} has code ${code}, its own name, and errorBody gives {Err, Error}`, () => {
      const err = make();
      assert.ok(err instanceof PodnetError);
      assert.ok(err instanceof Error);
      assert.equal(err.code, code);
      assert.equal(err.name, name);
      assert.ok(err.message.length > 0);
      assert.ok(typeof err.stack === 'string');
      assert.deepEqual(errorBody(err), { Err: err.message, Error: err.message });
      assert.equal(errorMessage(err), err.message);
    });
  }

  test('every error code except INTERNAL has a subclass; codes are distinct', () => {
    const codes = TABLE.map(([, , c]) => c);
    assert.equal(new Set(codes).size, codes.length);
    const internal = new PodnetError('PODNET_ERR_INTERNAL', 'oops');
    assert.equal(internal.code, 'PODNET_ERR_INTERNAL');
    assert.equal(internal.name, 'PodnetError');
  });

  test('CommandFailedError carries argv, exit code and the last stderr lines', () => {
    const e = new CommandFailedError(['iptables-restore', '-w', '--noflush'], 1, 'line1\nline2\nline3\nline4\n');
    assert.deepEqual(e.argv, ['iptables-restore', '-w', '--noflush']);
    assert.equal(e.exitCode, 1);
    assert.equal(e.stderr, 'line1\nline2\nline3\nline4\n');
    assert.equal(e.message, 'host command failed (exit 1): iptables-restore -w --noflush: line2 / line3 / line4');
    const killed = new CommandFailedError(['ovs-vsctl', 'show'], null, '');
    assert.equal(killed.message, 'host command failed (exit signal): ovs-vsctl show');
  });

  test('the cause is kept', () => {
    const cause = new Error('EACCES');
    assert.equal(new InvalidRequestError('x', { cause }).cause, cause);
  });

  test('errorBody of a non-Error', () => {
    assert.deepEqual(errorBody('plain text'), { Err: 'plain text', Error: 'plain text' });
    assert.deepEqual(errorBody(42), { Err: '42', Error: '42' });
    assert.equal(errorMessage(undefined), 'undefined');
  });
});
