/**
 * Notices as shown: the same message repeated (a retry that fails the same way each time) is one
 * banner with a count, not a pile; the newest message comes first.
 */

export interface NoticeLike {
  id: number;
  level: string;
  text: string;
  /** A button the banner offers (see ui/store/types.ts); part of what makes two notices equal. */
  action?: string;
}

export interface NoticeGroup<N extends NoticeLike> {
  /** The latest notice of the group. */
  notice: N;
  /** Every notice of the group, oldest first: dismissing the banner drops them all. */
  ids: number[];
  count: number;
}

/** Group equal notices; the group whose latest notice is newest comes first. */
export function groupNotices<N extends NoticeLike>(notices: readonly N[]): NoticeGroup<N>[] {
  const groups = new Map<string, NoticeGroup<N> & { latest: number }>();
  notices.forEach((n, order) => {
    const key = JSON.stringify([n.level, n.text, n.action ?? null]);
    const group = groups.get(key);
    if (group) {
      group.ids.push(n.id);
      group.count++;
      group.notice = n;
      group.latest = order;
    } else groups.set(key, { notice: n, ids: [n.id], count: 1, latest: order });
  });
  return [...groups.values()]
    .sort((a, b) => b.latest - a.latest)
    .map(({ notice, ids, count }) => ({ notice, ids, count }));
}
