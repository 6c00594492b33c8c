// A promise given up after a time: rejects with `message` if `p` has not settled within `ms`.
// The timer is cleared either way, so nothing stays scheduled behind a settled promise.
export function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
