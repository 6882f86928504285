/** The shape of `@azure/core-paging`'s iterator, as the SDK's list methods return it. */
export interface PagedAsyncIterableIterator<T> extends AsyncIterableIterator<T> {
  byPage(settings?: { continuationToken?: string }): AsyncIterableIterator<T[]>;
}

export interface Page<T> {
  items: T[];
  /** Absolute URL of the next page, GET as is. */
  nextLink?: string;
}

export function pagedIterator<T>(firstLink: string, fetchPage: (link: string) => Promise<Page<T>>): PagedAsyncIterableIterator<T> {
  async function* pages(continuationToken?: string): AsyncIterableIterator<T[]> {
    let link: string | undefined = continuationToken ?? firstLink;
    while (link) {
      const page: Page<T> = await fetchPage(link);
      yield page.items;
      link = page.nextLink || undefined;
    }
  }
  async function* items(): AsyncIterableIterator<T> {
    for await (const page of pages()) yield* page;
  }
  const iterator = items();
  return {
    next: () => iterator.next(),
    [Symbol.asyncIterator]() {
      return this;
    },
    byPage: (settings) => pages(settings?.continuationToken),
  };
}
