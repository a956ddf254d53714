import type { Scheduler } from '@cairn/core';
import type { z } from 'zod';
import type { ApiContext } from '../context.js';
import { HttpError } from '../http.js';
import { route } from '../router.js';
import type { AnyRoute, RouteContext } from '../router.js';
import { scheduleList } from '../schemas.js';

function requireScheduler(api: ApiContext): Scheduler {
  if (!api.scheduler) throw new HttpError(404, 'NO_SCHEDULER', 'this server runs no schedules (no job of the config has a schedule, or the host app passed no scheduler)');
  return api.scheduler;
}

async function schedules(api: ApiContext): Promise<z.output<typeof scheduleList>['schedules']> {
  return (await requireScheduler(api).list()).map((info) => ({
    name: info.name, cron: info.cron, timezone: info.timezone ?? null, missed: info.missed, paused: info.paused,
    next: info.next ? info.next.toISOString() : null, last: info.lastSlot ?? null,
  }));
}

export function scheduleRoutes(api: ApiContext): AnyRoute[] {
  const setPaused = (paused: boolean, one: boolean) => async (ctx: RouteContext) => {
    const scheduler = requireScheduler(api);
    const name = one ? ctx.params.name! : undefined;
    ctx.audit.target = name ?? '*';
    if (name !== undefined && !(await scheduler.list()).some((s) => s.name === name)) {
      throw new HttpError(404, 'SCHEDULE_NOT_FOUND', `no schedule named "${name}"`);
    }
    if (paused) await scheduler.pause(name);
    else await scheduler.resume(name);
    return { status: 200, body: { schedules: await schedules(api) } };
  };
  const schedule = { name: 'The schedule\'s name (its job\'s).' };
  return [
    route({
      method: 'GET', path: '/api/schedules', role: 'viewer', tag: 'schedules', summary: 'Schedules with their next and last slot, paused or not.',
      responses: { 200: { description: 'The schedules.', schema: scheduleList } },
      async handle() {
        return { status: 200, body: { schedules: await schedules(api) } };
      },
    }),
    route({ method: 'POST', path: '/api/schedules/pause', role: 'admin', tag: 'schedules', audit: 'pause', summary: 'Pause every schedule.', responses: { 200: { description: 'The schedules, now paused.', schema: scheduleList } }, handle: setPaused(true, false) }),
    route({ method: 'POST', path: '/api/schedules/resume', role: 'admin', tag: 'schedules', audit: 'resume', summary: 'Resume every schedule (missed slots follow each one\'s `missed` policy).', responses: { 200: { description: 'The schedules, now running.', schema: scheduleList } }, handle: setPaused(false, false) }),
    route({ method: 'POST', path: '/api/schedules/:name/pause', role: 'admin', tag: 'schedules', audit: 'pause', params: schedule, summary: 'Pause one schedule.', responses: { 200: { description: 'The schedules.', schema: scheduleList } }, handle: setPaused(true, true) }),
    route({ method: 'POST', path: '/api/schedules/:name/resume', role: 'admin', tag: 'schedules', audit: 'resume', params: schedule, summary: 'Resume one schedule.', responses: { 200: { description: 'The schedules.', schema: scheduleList } }, handle: setPaused(false, true) }),
  ];
}
