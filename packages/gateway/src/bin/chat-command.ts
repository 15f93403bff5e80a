/** `spool chat`: lands with @spool/client (the streaming client). */
export async function runChatCommand(_argv: string[]): Promise<number> {
  process.stderr.write('spool chat is not available in this build yet.\n');
  return 1;
}
