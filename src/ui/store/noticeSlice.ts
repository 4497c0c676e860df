/** Notices: what the user should know that no panel shows (errors, restarts), newest last. */
import type { Get, Set } from './deps';
import type { NoticeSlice } from './types';

const MAX_NOTICES = 6;

export function noticeSlice(set: Set, get: Get): NoticeSlice {
  let nextId = 1;
  return {
    notices: [],
    notify(level, text, action) {
      const notice = { id: nextId++, level, text, ...(action ? { action } : {}) };
      set({ notices: [...get().notices, notice].slice(-MAX_NOTICES) });
    },
    dismissNotice(id) {
      set({ notices: get().notices.filter((n) => n.id !== id) });
    },
  };
}
